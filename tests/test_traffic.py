"""The server's traffic models: real-length requests batched with dynamic padding (each batch as wide as
its longest request, not slo.seq_len) on a virtual clock, and traffic files checked line by line."""

from __future__ import annotations

import numpy as np
import pytest

from bench import server as srv
from bench.config import ConfigError
from bench.scenarios.server import DynamicBatches
from bench.timing import BatchingPolicy, serve_open_loop
from bench.traffic import describe, pad_batch, read_traffic_file

SEQ_LEN = 64


class FakeSession:
    """A runtime session on a virtual clock: a batch costs 1 ms + 0.02 ms per padded token; it records
    each batch's shape (the padding the model really computes on)."""

    def __init__(self):
        self.now_ns, self.shapes = 0, []

    def prepare(self, batch: dict) -> dict:
        return batch

    def run(self, batch: dict):
        rows, width = batch["input_ids"].shape
        self.shapes.append((rows, width))
        self.now_ns += int((1.0 + 0.02 * rows * width) * 1e6)

    def clock(self) -> int:
        return self.now_ns

    def sleep(self, s: float) -> None:
        self.now_ns += max(1, round(s * 1e9))


def requests(lengths) -> list[dict]:
    """Token rows as the worker makes them: [CLS] ... [SEP], attention mask of ones."""
    return [{"input_ids": np.array([2] + [7] * (n - 2) + [3], dtype=np.int64),
             "attention_mask": np.ones(n, dtype=np.int64)} for n in lengths]


def test_each_batch_is_padded_to_its_longest_request_not_to_seq_len():
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(4, 40, size=300)]  # all shorter than SEQ_LEN
    session = FakeSession()
    batches = DynamicBatches(session, requests(lengths), {"input_ids": 0})
    firsts: list[tuple[int, int]] = []

    def run_batch(first: int, count: int):
        firsts.append((first, count))
        return batches.run(first, count)

    served = serve_open_loop(run_batch, srv.poisson_arrivals_s(400.0, 600, seed=1), BatchingPolicy(8, 2.0),
                             clock=session.clock, sleep=session.sleep)
    assert served.completed == 600 and max(served.batch_sizes) > 1  # some batches really batch
    for (first, count), (rows, width) in zip(firsts, session.shapes, strict=True):
        assert rows == count
        assert width == max(lengths[(first + i) % len(lengths)] for i in range(count))
    assert max(w for _, w in session.shapes) < SEQ_LEN


def test_pad_batch_fills_with_the_pad_values_on_the_tokenizers_side():
    rows = requests([3, 5])
    right = pad_batch(rows, {"input_ids": 0})
    assert right["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 7, 7, 7, 3]]
    assert right["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    left = pad_batch(rows, {"input_ids": 9}, side="left")
    assert left["input_ids"].tolist()[0] == [9, 9, 2, 7, 3] and left["attention_mask"].tolist()[0] == [0, 0, 1, 1, 1]


def test_the_record_describes_the_traffic_and_its_lengths():
    d = describe("real", SEQ_LEN, [10] * 98 + [60, 64], "the test split (100 requests)")
    assert d["name"] == "real" and "longest request" in d["description"] and "test split" in d["description"]
    assert d["lengths"]["p50"] == 10 and d["lengths"]["max"] == 64 and 10 < d["lengths"]["p99"] <= 64
    assert describe("fixed", SEQ_LEN, [SEQ_LEN] * 5)["lengths"] == {"p50": 64.0, "p99": 64.0, "max": 64}


def test_traffic_files_of_texts_and_of_lengths(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("my flight was late\nthanks for the help!\n", encoding="utf-8")
    assert read_traffic_file(texts).texts == ("my flight was late", "thanks for the help!")
    lengths = tmp_path / "lengths.txt"
    lengths.write_text("12\n40\n7\n")
    f = read_traffic_file(lengths)
    assert f.lengths == (12, 40, 7) and f.texts is None


@pytest.mark.parametrize(("content", "where", "what"), [
    (b"12\n40\nabc\n", ":3", "not a token length"),
    (b"12\n0\n", ":2", "not a token length"),
    (b"hello\n\nworld\n", ":2", "empty line"),
    (b"hello\n\xff\xfe\n", ":2", "not UTF-8"),
    (b"", "", "the file is empty"),
])
def test_a_bad_traffic_file_is_refused_naming_the_line(tmp_path, content, where, what):
    path = tmp_path / "traffic.txt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=what) as e:
        read_traffic_file(path)
    assert str(e.value).startswith(f"{path}{where}: server.traffic_file")


def test_the_suite_finds_its_traffic_file_beside_it_and_refuses_a_bad_one(tmp_path):
    from bench.registry import load_suite

    (tmp_path / "lengths.txt").write_text("10\n20\n")
    suite = load_suite("default", ["server.traffic_file=" + str(tmp_path / "lengths.txt")])[0]
    assert suite.server.traffic_file == str((tmp_path / "lengths.txt").resolve())
    (tmp_path / "bad.txt").write_text("10\nx\n")
    with pytest.raises(ConfigError, match=r"bad.txt:2: server.traffic_file"):
        load_suite("default", ["server.traffic_file=" + str(tmp_path / "bad.txt")])
    with pytest.raises(ConfigError, match="add \"real\" to traffic"):
        load_suite("default", ["server.traffic=[\"fixed\"]", "server.traffic_file=" + str(tmp_path / "lengths.txt")])
