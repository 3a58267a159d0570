import numpy as np
import pytest

from bench.config import Task
from bench.data import load_task_data, stratified_split
from bench.errors import DataError


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def rows(n=60):
    return "text,label\n" + "".join(f"message number {i},{('a', 'b', 'c')[i % 3]}\n" for i in range(n))


def test_split_is_stratified_deterministic_and_hashed(tmp_path):
    p = write(tmp_path, "d.csv", rows(300))
    task = Task(dataset=str(p))
    a, b = load_task_data(task, tmp_path), load_task_data(task, tmp_path)
    assert a.summary() == b.summary()
    assert len(a.train.texts) == 240 and len(a.val.texts) == 30 and len(a.test.texts) == 30
    assert np.bincount(a.test.labels).tolist() == [10, 10, 10]
    assert not set(a.train.texts) & set(a.test.texts)
    other = load_task_data(Task(dataset=str(p), seed=1), tmp_path)
    assert other.test.sha256() != a.test.sha256()


def test_caps_keep_class_proportions(tmp_path):
    p = write(tmp_path, "d.csv", rows(300))
    d = load_task_data(Task(dataset=str(p), max_train_rows=30), tmp_path)
    assert np.bincount(d.train.labels).tolist() == [10, 10, 10]


def test_duplicates_and_conflicts_are_dropped_deterministically(tmp_path):
    text = rows(30) + "message number 0,a\nMessage  number 1,b\nmessage number 2,a\n"
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", text))), tmp_path)
    c = d.cleaning
    assert c["duplicates_dropped"] == 2  # 0 (same label), 1 (case and spacing differ, same label)
    assert c["conflicting_label_rows_dropped"] == 2  # "message number 2" labelled c and a
    assert c["rows_kept"] == 29


def test_mojibake_is_repaired(tmp_path):
    text = rows(30) + "cafÃ© was great,a\n"
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", text))), tmp_path)
    all_texts = d.train.texts + d.val.texts + d.test.texts
    assert "café was great" in all_texts and d.cleaning["texts_repaired"] == 1


def test_jsonl_and_parquet(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"t": [f"x {i}" for i in range(30)], "y": [i % 2 for i in range(30)]})
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "d.parquet")
    for name in ("d.jsonl", "d.parquet"):
        d = load_task_data(Task(dataset=name, text_column="t", label_column="y"), tmp_path)
        assert d.label_names == ("0", "1")


@pytest.mark.parametrize("text, words", [
    ("text,label\n", "no rows"),
    ("body,label\nhello,a\n", "no column 'text'"),
    (rows(30) + ",a\n", "empty or missing text"),
    (rows(30) + "hello there,\n", "have no label"),
    (rows(30) + "one more,d\n", "class 'd' has only 1 rows"),
    ("text,label\n" + "".join(f"m {i},a\n" for i in range(10)), "1 distinct label"),
])
def test_bad_data_is_rejected_with_the_reason(tmp_path, text, words):
    with pytest.raises(DataError, match=None) as err:
        load_task_data(Task(dataset=str(write(tmp_path, "bad.csv", text))), tmp_path)
    assert words in str(err.value) and "bad.csv" in str(err.value)


def test_non_utf8_bytes_say_which_encoding(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(rows(30).encode() + "caf\xe9,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"task\.encoding"):
        load_task_data(Task(dataset=str(p)), tmp_path)
    d = load_task_data(Task(dataset=str(p), encoding="latin-1"), tmp_path)
    assert d.cleaning["rows_kept"] == 31


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_task_data(Task(dataset="nope.csv"), tmp_path)


def test_stratified_split_needs_enough_rows_per_class():
    with pytest.raises(DataError, match="class 'b'"):
        stratified_split(np.array([0] * 20 + [1]), (0.8, 0.1, 0.1), 0, ("a", "b"), "x.csv")
