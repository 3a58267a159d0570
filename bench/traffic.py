"""The server scenario's traffic models: what each request carries, and how a batch of them is padded.

- `fixed`: every request is a test text padded (or truncated) to slo.seq_len, so every batch is
  (batch, seq_len): the worst case for a server, and the figure bench has always reported.
- `real`: every request carries a real text at its own token length (truncated at slo.seq_len) and the
  dynamic batcher pads each batch to its LONGEST request (dynamic padding, what Triton's and TEI's
  batchers and Hugging Face's DataCollatorWithPadding do). The texts are the test split's, or a user's
  `server.traffic_file`: one text per line, or one token length per line (a file whose first line is
  an integer is read as lengths; every line must then be one).

The bottom of bench: numpy only (imported inside functions), no tokenizer; the worker tokenizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.config import ConfigError

FIXED, REAL = "fixed", "real"
LABELS = {FIXED: "fixed-length", REAL: "real-length"}  # how tables name them ("<label> traffic")
DESCRIPTIONS = {
    FIXED: "every request padded to slo.seq_len ({seq_len} tokens): each batch is (batch, {seq_len})",
    REAL: "each request a real text at its own token length (truncated at {seq_len}), each batch padded to its "
          "longest request (dynamic padding); texts: {source}",
}


@dataclass(frozen=True)
class TrafficFile:
    """A user's traffic file, read and checked: its texts, or its token lengths (exactly one is set)."""

    path: str
    texts: tuple[str, ...] | None = None
    lengths: tuple[int, ...] | None = None


def read_traffic_file(path: Path, key: str = "server.traffic_file") -> TrafficFile:
    """One text or one token length per line (UTF-8). Raises ConfigError naming the file and line: not
    found, not UTF-8, an empty line, a length that is not a positive integer in a lengths file, or no lines."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(str(path), f"{key}: cannot read the traffic file ({e.strerror or e})") from None
    lines = raw.split(b"\n")
    if lines and lines[-1] in (b"", b"\r"):
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise ConfigError(str(path), f"{key}: the file is empty; expected one text or one token length per line")
    texts = [_line_text(path, i, line, key) for i, line in enumerate(lines, 1)]
    if not texts[0].strip().isdigit():
        return TrafficFile(str(path), texts=tuple(texts))
    return TrafficFile(str(path), lengths=tuple(_line_length(path, i, t, key) for i, t in enumerate(texts, 1)))


def _line_text(path, number: int, line: bytes, key: str) -> str:
    try:
        text = line.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}:{number}", f"{key}: not UTF-8 (byte {e.start + 1}); expected UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"{path}:{number}", f"{key}: empty line; expected one text or one token length per line")
    return text


def _line_length(path, number: int, text: str, key: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{path}:{number}", f"{key}: {text.strip()[:40]!r} is not a token length; the first line "
                                              "is an integer, so every line must be a positive integer (token count)")
    return int(text)


def pad_batch(rows: list[dict], pad_values: dict[str, int], side: str = "right") -> dict:
    """Requests' token arrays (each a dict of 1-D int arrays of one length per request) padded to the
    longest request of the batch: a dict of (len(rows), longest) arrays. `pad_values[name]` fills each
    input (the tokenizer's pad id for input_ids, 0 for attention_mask); `side` is the tokenizer's padding side."""
    import numpy as np

    width = max(len(r["input_ids"]) for r in rows)
    out = {}
    for name in rows[0]:
        first = rows[0][name]
        batch = np.full((len(rows), width), pad_values.get(name, 0), dtype=first.dtype)
        for i, r in enumerate(rows):
            n = len(r[name])
            if side == "left":
                batch[i, width - n:] = r[name]
            else:
                batch[i, :n] = r[name]
        out[name] = batch
    return out


def length_summary(lengths) -> dict:
    """p50, p99 and max of request lengths (tokens; numpy's linear interpolation)."""
    import numpy as np

    a = np.asarray(lengths, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": int(a.max())}


def describe(name: str, seq_len: int, lengths, source: str = "the test split") -> dict:
    """The record's server["traffic"]: name, description, and the requests' token lengths."""
    return {"name": name, "description": DESCRIPTIONS[name].format(seq_len=seq_len, source=source),
            "lengths": length_summary(lengths)}
