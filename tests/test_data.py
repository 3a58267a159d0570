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
    (rows(30) + "hello there,\n", "1 row has no label"),
    (rows(30) + "one more,d\n", "class 'd' has only 1 row;"),
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


# ---- labels as users write them, text left alone unless broken, errors at the physical line (issue #17) ----

def many(n=30, label=lambda i: ("a", "b", "c")[i % 3]):
    return "".join(f"message number {i},{label(i)}\n" for i in range(n))


def test_labels_are_stripped_and_numbers_are_one_class(tmp_path):
    text = "text,label\n" + many(60, lambda i: (" 4 ", "4.0", "5", "5.00", "3")[i % 5])
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", text))), tmp_path)
    assert d.label_names == ("3", "4", "5")
    assert d.cleaning["numeric_labels_respelled"] == 24  # "4.0" and "5.00": 12 rows each


def test_labels_differing_in_case_are_an_error_naming_them(tmp_path):
    text = "text,label\n" + many(30, lambda i: ("Positive", "positive", " positive ", "neg")[i % 4])
    p = write(tmp_path, "d.csv", text)
    with pytest.raises(DataError) as err:
        load_task_data(Task(dataset=str(p)), tmp_path)
    msg = str(err.value)
    assert "differ only in case" in msg and "'Positive' (8 rows, first at line 2)" in msg
    assert "'positive' (15 rows, first at line 3)" in msg and "task.label_map" in msg
    d = load_task_data(Task(dataset=str(p), label_map={"Positive": "positive"}), tmp_path)
    assert d.label_names == ("neg", "positive") and d.cleaning["labels_mapped"] == 8


def test_a_label_map_key_found_nowhere_is_an_error(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\n" + many(30))
    with pytest.raises(DataError, match=r"task\.label_map: 'Positve' appear nowhere"):
        load_task_data(Task(dataset=str(p), label_map={"Positve": "a"}), tmp_path)


def test_a_continuous_label_under_classification_is_refused(tmp_path):
    text = "text,label\n" + many(60, lambda i: f"{1 + (i % 13) / 3:.2f}")  # the mean of three raters
    p = write(tmp_path, "d.csv", text)
    with pytest.raises(DataError, match=r"continuous score \(13 distinct numeric values.*kind = \"regression\""):
        load_task_data(Task(dataset=str(p)), tmp_path)
    d = load_task_data(Task(dataset=str(p), kind="regression"), tmp_path)
    assert d.kind == "regression" and d.label_names == ("label",) and isinstance(d.train.labels[0], float)
    lo, hi = d.extra["target_range"]
    assert 1.0 <= lo < hi <= 5.0
    stars = "text,label\n" + many(60, lambda i: str(1 + i % 5))  # 1-5 stars stay classes
    assert load_task_data(Task(dataset=str(write(tmp_path, "s.csv", stars))), tmp_path).label_names == tuple("12345")


def test_a_regression_target_that_is_not_a_number_names_line_column_value(tmp_path):
    text = "text,score\n" + many(30, lambda i: str(i)) + "one more,\"4,5\"\n"
    with pytest.raises(DataError) as err:
        load_task_data(Task(dataset=str(write(tmp_path, "d.csv", text)), kind="regression", label_column="score"),
                       tmp_path)
    assert "column 'score'" in str(err.value) and "line 32: '4,5'" in str(err.value)


def test_binary_orders_negative_then_the_rare_positive(tmp_path):
    text = "text,label\n" + many(100, lambda i: "fraud" if i % 20 == 0 else "legit")
    p = write(tmp_path, "d.csv", text)
    d = load_task_data(Task(dataset=str(p), kind="binary"), tmp_path)
    assert d.label_names == ("legit", "fraud") and d.extra["positive_label"] == "fraud"
    assert sum(d.test.labels) >= 1
    d = load_task_data(Task(dataset=str(p), kind="binary", positive_label="legit"), tmp_path)
    assert d.label_names == ("fraud", "legit")
    with pytest.raises(DataError, match="exactly two labels"):
        load_task_data(Task(dataset=str(write(tmp_path, "t.csv", rows(30))), kind="binary"), tmp_path)


def test_pairs_are_read_split_together_and_round_trip(tmp_path):
    from bench.data import read_split, write_split

    text = "query,title,label\n" + "".join(f"q{i},title {i},{i % 2}\n" for i in range(40))
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", text)), text_column="query",
                            text_pair_column="title"), tmp_path)
    assert all(t[1:] == p.split()[1] for t, p in zip(d.train.texts, d.train.pairs, strict=True))
    write_split(d.test, tmp_path / "test.jsonl")
    again = read_split(tmp_path / "test.jsonl")
    assert again == d.test and again.sha256() == d.test.sha256()


def test_valid_unicode_passes_unchanged_and_only_mojibake_is_repaired(tmp_path):
    keep = ["很好\uff0c谢谢\uff01非常满意", "\uff21\uff22\uff23 full width", "I ❤️ it 😀", "\u201ccurly\u201d quotes",
            "ﬁne naïve"]  # full-width comma and "!", full-width ABC, curly quotes
    body = "".join(f"{t},a\n" for t in keep) + "cafÃ© was great,b\n" + many(30)
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", "text,label\n" + body))), tmp_path)
    texts = set(d.train.texts + d.val.texts + d.test.texts)
    assert set(keep) <= texts and "café was great" in texts
    assert d.cleaning["texts_repaired"] == 1
    assert d.cleaning["repair_example"] == {"where": "line 7", "before": "cafÃ© was great", "after": "café was great"}


def test_near_duplicates_in_punctuation_or_case_never_cross_splits(tmp_path):
    from bench.data import near_duplicate_key

    body = "".join(f"\"Great service, number {i}!\",a\ngreat service number {i},a\nGREAT SERVICE NUMBER {i}...,a\n"
                   for i in range(40)) + many(30, lambda i: "b")
    d = load_task_data(Task(dataset=str(write(tmp_path, "d.csv", "text,label\n" + body))), tmp_path)
    keys = [{near_duplicate_key(t) for t in s.texts} for s in (d.train, d.val, d.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert d.cleaning["duplicates_dropped"] == 80


def test_errors_name_the_physical_line_after_a_multiline_record(tmp_path):
    body = "text,label\n" + many(10) + '"a review\nthat spans\nthree lines",a\n' + many(10) + ",b\n"
    with pytest.raises(DataError, match=r"empty or missing text in column 'text' \(line 25\)"):
        load_task_data(Task(dataset=str(write(tmp_path, "d.csv", body))), tmp_path)
    body = "text,label\n" + '"two\nlines",a\n' + many(10) + "no label here,\n"
    with pytest.raises(DataError, match=r"no label in column 'label' \(line 14\)"):
        load_task_data(Task(dataset=str(write(tmp_path, "e.csv", body))), tmp_path)
    body = "text,label\n" + '"two\nlines",a\n' + "one,two,three\n"
    with pytest.raises(DataError, match=r"line 4: 3 fields, where the header \(line 1\) has 2"):
        load_task_data(Task(dataset=str(write(tmp_path, "f.csv", body))), tmp_path)


def test_an_unclosed_quote_names_the_line_it_opens_on_not_the_end_of_the_file(tmp_path):
    body = "text,label\n" + '"two\nlines",a\n' + '"never closed,b\n' + many(10)
    with pytest.raises(DataError, match=r"line 4: a quoted field .* never closed"):
        load_task_data(Task(dataset=str(write(tmp_path, "q.csv", body))), tmp_path)
    body = "text,label\n" + many(3) + '"never closed,b\n' + '"the next record",a\n' + many(10)
    with pytest.raises(DataError, match=r"line 6 \(in the record that starts on line 5: a quote opened there"):
        load_task_data(Task(dataset=str(write(tmp_path, "q2.csv", body))), tmp_path)


def test_a_utf16_file_is_named_as_such_whatever_encoding_was_set(tmp_path):
    body = "text,label\n" + many(30)
    for encoding in ("utf-8", "latin-1"):
        with pytest.raises(DataError, match=r"UTF-16 byte-order mark.*task\.encoding = 'utf-16'"):
            load_task_data(Task(dataset=str(write(tmp_path, "bom.csv", body, "utf-16")), encoding=encoding), tmp_path)
        with pytest.raises(DataError, match=r"line 1: NUL characters.*'utf-16-le'"):
            load_task_data(Task(dataset=str(write(tmp_path, "le.csv", body, "utf-16-le")), encoding=encoding), tmp_path)
    d = load_task_data(Task(dataset=str(write(tmp_path, "ok.csv", body, "utf-16")), encoding="utf-16"), tmp_path)
    assert len(d.train.texts) + len(d.val.texts) + len(d.test.texts) == 30


def test_jsonl_errors_name_the_line(tmp_path):
    body = "".join(f'{{"text": "m {i}", "label": {i % 2}}}\n' for i in range(20)) + "\n" + '{"text": "", "label": 1}\n'
    with pytest.raises(DataError, match=r"\(line 22\)"):
        load_task_data(Task(dataset=str(write(tmp_path, "d.jsonl", body))), tmp_path)
    with pytest.raises(DataError, match=r"line 3: not valid JSON"):
        load_task_data(Task(dataset=str(write(tmp_path, "e.jsonl", '{"text": "a", "label": 1}\n\n{oops\n'))), tmp_path)


def test_a_decode_error_names_the_line_and_the_bytes(tmp_path):
    p = tmp_path / "cp1252.csv"
    p.write_bytes(("text,label\n" + many(10) + '"multi\nline",a\n').encode() + "caf\xe9 \u2019ok\u2019,a\n".encode("cp1252"))
    with pytest.raises(DataError) as err:
        load_task_data(Task(dataset=str(p)), tmp_path)
    assert "line 14, byte 4 of the line: bytes e9 " in str(err.value) and "task.encoding" in str(err.value)
    d = load_task_data(Task(dataset=str(p), encoding="cp1252"), tmp_path)
    assert "café \u2019ok\u2019" in d.train.texts + d.val.texts + d.test.texts


def test_lengths_above_the_models_positions_are_refused(tmp_path):
    import json

    from bench.config import ConfigError
    from bench.models import check_lengths, position_limit
    from bench.registry import load_suite

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta", "max_position_embeddings": 514}))
    assert position_limit(tmp_path) == (512, f"max_position_embeddings in {tmp_path / 'config.json'}")
    suite, path = load_suite("smoke", ["finetune.max_length=1024", "measure.seq_lengths=[16, 600]"])
    with pytest.raises(ConfigError) as err:
        check_lengths(suite, path, tmp_path)
    assert "finetune.max_length = 1024; measure.seq_lengths entry 600: above the model's limit of 512" in str(err.value)
    suite, path = load_suite("smoke", ["finetune.max_length=512"])
    check_lengths(suite, path, tmp_path)  # at the limit: accepted


def test_a_split_round_trips_texts_with_unicode_line_separators(tmp_path):
    """U+2028, U+0085 and a form feed are valid text that json.dumps(ensure_ascii=False) writes raw: a
    reader splitting on every Unicode line break cut records there (JSONDecodeError in the build)."""
    from bench.data import Split, read_split, write_split

    texts = ("one\u2028two", "three\x85four", "five\x0csix", "plain")
    write_split(Split(texts, (0, 1, 0, 1)), tmp_path / "s.jsonl")
    assert read_split(tmp_path / "s.jsonl").texts == texts
