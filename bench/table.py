"""Reading a user's table (CSV, JSONL, Parquet) so that every record knows where it is in the file.

A CSV record starts on a physical line that a quoted multi-line field before it has pushed down; pandas
forgets it, so CSV is read with the standard library's csv module, which counts lines (`line_num`).
JSONL is one record a line; Parquet has rows, not lines, and is named by row (1-based).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import DataError

FORMAT_OF_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
SHOWN = 5  # how many locations an error lists


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame  # the columns as read (strings for CSV, JSON values for JSONL)
    starts: tuple[int, ...]  # per record: the physical line it starts on (1-based), or its row number
    unit: str  # "line" or "row"
    source: str  # the file

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list:
        return list(self.frame.columns)

    def where(self, i: int) -> str:
        return f"{self.unit} {self.starts[i]}"

    def where_each(self) -> list[str]:
        return [self.where(i) for i in range(len(self))]

    def where_list(self, rows: list[int]) -> str:
        shown = ", ".join(str(self.starts[i]) for i in rows[:SHOWN])
        return f"{self.unit}{'s' if len(rows) > 1 else ''} {shown}" + (", ..." if len(rows) > SHOWN else "")

    def raw(self, i: int, column: str):
        """The value as read; None where the cell is empty or missing."""
        v = self.frame[column].iat[i]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v

    def text(self, i: int, column: str) -> str:
        v = self.raw(i, column)
        return "" if v is None else str(v).strip()


def decode(path: Path, encoding: str) -> str:
    """The file's text; bytes that are not `encoding` are an error naming the line and the bytes."""
    raw = path.read_bytes()
    utf16 = encoding.lower().replace("_", "-").startswith(("utf-16", "utf16"))
    if not utf16 and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: the file starts with a UTF-16 byte-order mark but task.encoding is "
                        f"'{encoding}'; set task.encoding = 'utf-16' (or save the file as UTF-8)")
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise DataError(f"task.encoding: unknown encoding '{encoding}' (e.g. 'utf-8', 'cp1252', 'latin-1')") from None
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(f"{path}: line {line}, byte {column} of the line: bytes {raw[e.start:e.end].hex(' ')} "
                        f"are not valid {encoding}; set task.encoding to the file's encoding "
                        "(e.g. 'cp1252' for a Windows spreadsheet export, 'latin-1')") from None
    if "\x00" in text and not utf16:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError(f"{path}: line {line}: NUL characters in text read as '{encoding}': a UTF-16 file without "
                        "a byte-order mark? set task.encoding = 'utf-16-le' (or 'utf-16-be'), or save it as UTF-8")
    return text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not part of the first column's name


def read_csv(path: Path, encoding: str) -> Table:
    reader = csv.reader(io.StringIO(decode(path, encoding), newline=""), strict=True)
    rows, starts, end = [], [], 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if row:  # a blank line is no record
                rows.append(row)
                starts.append(start)
    except csv.Error as e:
        if "unexpected end of data" in str(e):  # the file ends inside a quoted field: name where it opened
            raise DataError(f"{path}: line {end + 1}: a quoted field that starts in the record on this line is "
                            "never closed (the file ends inside it); close the quote or double a quote inside "
                            "the field (\"\")") from None
        where = f"line {reader.line_num}" + (f" (in the record that starts on line {end + 1}: a quote opened there "
                                             "may be unclosed)" if reader.line_num > end + 1 else "")
        raise DataError(f"{path}: {where}: not valid CSV: {e}") from None
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = rows[0]
    for row, start in zip(rows[1:], starts[1:], strict=True):
        if len(row) != len(header):
            raise DataError(f"{path}: line {start}: {len(row)} fields, where the header (line {starts[0]}) has "
                            f"{len(header)}; quote a field that contains a comma or a line break")
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object).replace("", None)
    return Table(frame, tuple(starts[1:]), "line", str(path))


def read_jsonl(path: Path, encoding: str) -> Table:
    records, starts = [], []
    for n, line in enumerate(decode(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {n}: not valid JSON: {e.msg} (character {e.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        starts.append(n)
    return Table(pd.DataFrame(records, dtype=object), tuple(starts), "line", str(path))


def read_parquet(path: Path) -> Table:
    try:
        frame = pd.read_parquet(path)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read as parquet: {e}") from None
    return Table(frame.astype(object), tuple(range(1, len(frame) + 1)), "row", str(path))


def read_any(path: Path, fmt: str, encoding: str) -> Table:
    """The table at `path` in format `fmt` ("auto": by the extension). Raises DataError; never half-reads."""
    if fmt == "auto":
        fmt = FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if fmt is None:
            raise DataError(f"{path}: cannot tell the format from the extension; set task.format to csv, jsonl or parquet")
    table = {"csv": lambda: read_csv(path, encoding), "jsonl": lambda: read_jsonl(path, encoding),
             "parquet": lambda: read_parquet(path)}[fmt]()
    if not len(table):
        raise DataError(f"{path}: the file has no rows")
    return table
