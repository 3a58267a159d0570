"""The label column as users write it, checked: classes, a binary task's positive class, or a numeric target.

Normalized only where the meaning cannot change: surrounding whitespace is stripped, and numbers are
compared as numbers ("4", "4.0" and " 4 " are the class "4"). Labels that differ only in case are an
error listing them (never a silent merge or split): `task.label_map` says what they mean. A numeric
column that looks continuous is refused under `classification` with a pointer to `kind = "regression"`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from bench.config import Task
from bench.errors import DataError, rows_have
from bench.table import Table

# A numeric label column looks continuous (a score, not classes) when it has a non-integer value and more
# than this many distinct values (the mean of three raters: 3.67, 4.33, ...), or more than
# MAX_INTEGER_CLASSES distinct integers; 1-5 or 1-10 star ratings stay classes.
MAX_FRACTIONAL_CLASSES = 5
MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True)
class LabelColumn:
    names: tuple[str, ...]  # class names (binary: negative, positive); regression: (the target column,)
    values: tuple  # per row: class index, or the target as a float
    report: dict = field(default_factory=dict)  # what normalization did, for the record
    extra: dict = field(default_factory=dict)  # binary: the positive label


def as_number(label: str) -> Decimal | None:
    try:
        d = Decimal(label)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def canonical(label: str) -> str:
    """One spelling per number ("4.0" -> "4", "3.50" -> "3.5"); other labels as they are."""
    d = as_number(label)
    if d is None:
        return label
    return str(int(d)) if d == d.to_integral_value() else format(d.normalize(), "f")


def _written(table: Table, task: Task) -> list[str]:
    """The stripped labels after task.label_map; a missing one, or a map key found nowhere, is an error."""
    col = task.label_column
    labels = [table.text(i, col) for i in range(len(table))]
    missing = [i for i, v in enumerate(labels) if not v]
    if missing:
        raise DataError(f"{table.source}: {rows_have(len(missing))} no label in column '{col}' "
                        f"({table.where_list(missing)}); fill them in or remove the rows")
    unused = sorted(set(task.label_map) - set(labels))
    if unused:
        raise DataError(f"task.label_map: {', '.join(map(repr, unused))} appear nowhere in column '{col}' of "
                        f"{table.source} (labels are compared after stripping whitespace)")
    return [task.label_map.get(v, v) for v in labels]


def _case_conflicts(labels: list[str], table: Table, column: str) -> None:
    spellings: dict[str, Counter] = {}
    for v in labels:
        spellings.setdefault(v.casefold(), Counter())[v] += 1
    clashes = [c for c in spellings.values() if len(c) > 1]
    if not clashes:
        return
    first = {}
    for i, v in enumerate(labels):
        first.setdefault(v, table.where(i))
    shown = "; ".join(", ".join(f"'{v}' ({rows_have(n, '')}, first at {first[v]})" for v, n in c.most_common()) for c in clashes)
    a, b = next(iter(clashes[0].most_common()))[0], clashes[0].most_common()[-1][0]
    raise DataError(f"{table.source}: column '{column}' has labels that differ only in case: {shown}. Say which "
                    f"are one class with task.label_map, e.g. label_map = {{ \"{b}\" = \"{a}\" }}, or fix the file")


def _refuse_continuous(labels: list[str], table: Table, column: str) -> None:
    numbers = [as_number(v) for v in set(labels)]
    if any(n is None for n in numbers):
        return
    fractional = any(n != n.to_integral_value() for n in numbers)
    if len(numbers) > MAX_INTEGER_CLASSES or (fractional and len(numbers) > MAX_FRACTIONAL_CLASSES):
        example = ", ".join(sorted(set(labels), key=lambda v: float(v))[:5])
        raise DataError(f"{table.source}: column '{column}' looks like a continuous score ({len(numbers)} distinct "
                        f"numeric values: {example}, ...), not classes; set task.kind = \"regression\" "
                        f"(or map the values to classes with task.label_map)")


def _targets(labels: list[str], table: Table, column: str) -> LabelColumn:
    bad = [i for i, v in enumerate(labels) if as_number(v) is None]
    if bad:
        shown = ", ".join(f"{table.where(i)}: {labels[i]!r}" for i in bad[:5])
        raise DataError(f"{table.source}: task.kind = \"regression\" needs a number in column '{column}'; "
                        f"{rows_have(len(bad))} none ({shown}{', ...' if len(bad) > 5 else ''})")
    values = tuple(float(v) for v in labels)
    if len(set(values)) < 2:
        raise DataError(f"{table.source}: column '{column}' has one value ({values[0]:g}); a regression needs at least 2")
    return LabelColumn((column,), values)  # one output: num_labels = 1


def _binary_names(names: list[str], counts: Counter, task: Task, table: Table) -> tuple[str, str]:
    if len(names) != 2:
        raise DataError(f"{table.source}: task.kind = \"binary\" needs exactly two labels in column "
                        f"'{task.label_column}'; it has {len(names)}: {', '.join(names[:10])}")
    if task.positive_label is None:
        positive = min(names, key=lambda n: (counts[n], -names.index(n)))  # the rarer; on a tie the later
    else:
        positive = canonical(task.label_map.get(task.positive_label, task.positive_label).strip())
        if positive not in names:
            raise DataError(f"task.positive_label: '{task.positive_label}' is not a label of column "
                            f"'{task.label_column}' in {table.source}; the labels are {', '.join(names)}")
    return next(n for n in names if n != positive), positive


def check_labels(table: Table, task: Task) -> LabelColumn:
    """The label column as classes or targets for `task.kind`. Raises DataError naming lines and values."""
    written = _written(table, task)
    if task.kind == "regression":
        return _targets(written, table, task.label_column)
    labels = [canonical(v) for v in written]
    respelled = sum(a != b for a, b in zip(written, labels, strict=True))
    _case_conflicts(labels, table, task.label_column)
    if task.kind == "classification":
        _refuse_continuous(labels, table, task.label_column)
    counts = Counter(labels)
    names = sorted(counts)
    extra = {}
    if task.kind == "binary":
        names = list(_binary_names(names, counts, task, table))
        extra = {"positive_label": names[1]}
    elif len(names) < 2:
        raise DataError(f"{table.source}: column '{task.label_column}' has {len(names)} distinct label(s); need at least 2")
    index = {n: i for i, n in enumerate(names)}
    report = {"numeric_labels_respelled": respelled, "labels_mapped": sum(v in task.label_map for v in
                                                                           (table.text(i, task.label_column) for i in range(len(table))))}
    return LabelColumn(tuple(names), tuple(index[v] for v in labels), report, extra)
