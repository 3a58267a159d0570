import os
import random
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent

POSITIVE = ["love", "great", "excellent", "thanks", "amazing", "happy", "perfect", "friendly"]
NEGATIVE = ["hate", "terrible", "awful", "broken", "late", "rude", "worst", "refund"]
NEUTRAL = ["order", "flight", "package", "today", "account", "store", "gate", "number"]
FILLER = ["the", "my", "a", "was", "is", "service", "staff", "delivery", "app", "support"]


def tiny_texts(n: int = 240, seed: int = 0) -> list[tuple[str, str]]:
    """A synthetic three-class sentiment set: the class decides the cue words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative", "neutral")[i % 3]
        cues = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}[label]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))] + [rng.choice(cues) for _ in range(2)]
        rng.shuffle(words)
        rows.append((" ".join(words) + f" {i}", label))
    return rows


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    import csv

    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(tiny_texts())
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 BERT built from a config (no download), saved as safetensors with a tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for t, _ in tiny_texts() for w in t.split()} | {str(i) for i in range(10)})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)  # transformers 5 takes the vocab itself
    assert tokenizer.unk_token_id not in tokenizer("love the service")["input_ids"]
    tokenizer.save_pretrained(d)
    config = BertConfig(vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(d, safe_serialization=True)
    return d


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(d))
    return d


# Early runs: the suite's few long `bench run` subprocesses start when the session starts, one after
# another in one background thread, so that they use the second core while the in-process tests run on
# the first (never more than two streams on a 2-core machine: more would slow every torch thread); the
# tests that read them run last. A test module registers a starter under the name of the fixture its
# tests use (`@early_run("smoke_run")`); a starter gets the session's `request` and returns an EarlyRun
# (or a dict of them), queued in that order. Only the runs that a selected test uses are started, and
# any still queued or running when the session ends are stopped.
EARLY_RUN_WAIT_S = 1800  # a backstop: on a loaded 2-core machine the runs share the CPU with everything else
_EARLY_STARTERS: dict = {}


class EarlyRun:
    """One `bench` subprocess, queued to run early; its output goes to files (a pipe nobody reads fills)."""

    def __init__(self, cmd: list[str], env: dict, log_dir: Path, out: Path | None = None):
        import threading

        self.cmd, self.env, self.out = cmd, env, out  # out: the run's --out directory
        self.stdout_path, self.stderr_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
        self.proc, self.cancelled, self.done = None, False, threading.Event()
        self._claimed = threading.Lock()  # whoever takes it runs the process: the queue or the first reader

    def run(self) -> None:
        """Run to the end, unless stopped or already taken by the queue or a reader (then return at once)."""
        import subprocess

        if not self._claimed.acquire(blocking=False):
            return
        try:
            if not self.cancelled:
                with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
                    self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err, text=True, env=self.env)
                if self.cancelled:  # stopped while it was starting
                    self.proc.kill()
                self.proc.wait()
        finally:
            self.done.set()

    def wait(self, timeout_s: float = EARLY_RUN_WAIT_S):
        """The finished run as a CompletedProcess (stdout, stderr as text). A run the queue has not reached
        yet runs here, in the reader, beside the queue's current run (the reader would only wait)."""
        import subprocess

        self.run()
        if not self.done.wait(timeout_s):
            raise TimeoutError(f"early run {self.cmd} still not finished after {timeout_s} s")
        if self.proc is None:
            raise RuntimeError(f"early run {self.cmd} was stopped before it started")
        return subprocess.CompletedProcess(self.cmd, self.proc.returncode, self.stdout_path.read_text(),
                                           self.stderr_path.read_text())

    def stop(self) -> None:
        self.cancelled = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


def early_run(fixture_name: str):
    """Register `start(request) -> EarlyRun | dict[str, EarlyRun]` for the tests that use `fixture_name`."""
    def register(start):
        _EARLY_STARTERS[fixture_name] = start
        return start

    return register


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: bool(_EARLY_STARTERS.keys() & set(item.fixturenames)))  # stable: readers last


class EarlyRuns(dict):
    """{fixture name: what its starter returned}; a starter that raised raises again for its readers only."""

    def __getitem__(self, name: str):
        value = super().__getitem__(name)
        if isinstance(value, BaseException):
            raise RuntimeError(f"starting the early run {name!r} failed") from value
        return value

    def queued(self) -> list[EarlyRun]:
        return [run for handle in self.values() if not isinstance(handle, BaseException)
                for run in (handle.values() if isinstance(handle, dict) else [handle])]


@pytest.fixture(scope="session", autouse=True)
def early_runs(request) -> EarlyRuns:
    """Queues the early runs that the selected tests use, in the order of their first reader."""
    import threading

    order = {}
    for item in request.session.items:
        for name in _EARLY_STARTERS.keys() & set(item.fixturenames):
            order.setdefault(name, len(order))
    started = EarlyRuns()
    for name in sorted(order, key=order.get):
        try:
            started[name] = _EARLY_STARTERS[name](request)
        except Exception as e:  # only the tests that read this run fail, with the cause
            started[name] = e
    queue = started.queued()
    # BENCH_TEST_EARLY_RUNS=0: no background queue, each run runs in its first reader (the old, serial way)
    thread = threading.Thread(target=lambda: [run.run() for run in queue], name="early-runs", daemon=True)
    if os.environ.get("BENCH_TEST_EARLY_RUNS", "1") != "0":
        thread.start()
    yield started
    for run in queue:
        run.stop()
    if thread.is_alive():
        thread.join(timeout=60)
