"""Change points (E-divisive means) on series with known shifts, and `bench history` over run dirs."""

import dataclasses

import numpy as np

from bench.cli import app
from bench.history import change_points, sparkline
from bench.record import save_run
from tests.golden import golden_run
from tests.test_compare import _slowed


def test_a_step_is_found_where_it_is():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(100, 2, 12), rng.normal(115, 2, 10)])
    assert change_points(x) == [12]


def test_noise_alone_has_no_change_point():
    rng = np.random.default_rng(1)
    false = sum(bool(change_points(rng.normal(100, 5, 15), seed=s)) for s in range(20))
    assert false <= 3


def test_two_steps():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(10, 0.3, 8), rng.normal(14, 0.3, 8), rng.normal(11, 0.3, 8)])
    assert change_points(x) == [8, 16]


def test_sparkline():
    assert sparkline([1, 2, 3]) == "▁▅█" and sparkline([5, 5]) == "▄▄"


def test_history_command_flags_the_slowdown(tmp_path, capsys):
    for i in range(10):
        run = golden_run() if i < 5 else _slowed(golden_run(), "onnx", 1.3)
        run = dataclasses.replace(run, run_id=f"202601{i + 1:02d}T000000Z-x", started_at=f"2026-01-{i + 1:02d}T00:00:00+00:00")
        save_run(tmp_path / "golden" / run.run_id, run)
    app(["history", "golden", "--root", str(tmp_path)], standalone_mode=False)
    err = capsys.readouterr().err
    line = next(row for row in err.splitlines() if "onnx/offline/bs8/seq64" in row and "p50_ms" in row)
    assert "at 20260106T000000Z-x" in line
    assert not any("full/offline" in row and "at 2026" in row for row in err.splitlines())
