import json

import pytest

from bench.errors import ResultsError
from bench.record import SCHEMA_VERSION, CellRecord, RunRecord, load_run, save_run
from tests.golden import golden_run


def test_round_trip_is_equal(tmp_path):
    run = golden_run()
    save_run(tmp_path, run)
    assert load_run(tmp_path) == run
    assert RunRecord.from_dict(json.loads(run.to_json())) == run


def test_with_cell_replaces_by_id():
    run = golden_run()
    cell = run.cells[1]
    again = run.with_cell(cell)
    assert len(again.cells) == len(run.cells) and again.cells[-1] == cell


def test_infinite_cost_is_stored_as_null(tmp_path):
    run = golden_run().with_cell(CellRecord(cell_id="x/accuracy", variant="x", steps=("full",), runtime="torch",
                                            scenario="accuracy", status="ok", cost={"usd_per_million": float("inf")}))
    save_run(tmp_path, run)
    assert json.loads((tmp_path / "run.json").read_text())["cells"][-1]["cost"]["usd_per_million"] is None


@pytest.mark.parametrize("mutate, words", [
    (lambda text: text[: len(text) // 2], "truncated"),
    (lambda text: text.replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99'), "newer"),
    (lambda text: text.replace('"status": "ok"', '"status": "great"', 1), "status must be one of"),
    (lambda text: text.replace('"batch_size"', '"batchsize"', 1), "unknown fields"),
    (lambda text: "[]", "not a bench run record"),
])
def test_damaged_run_json_is_rejected_clearly(tmp_path, mutate, words):
    save_run(tmp_path, golden_run())
    path = tmp_path / "run.json"
    path.write_text(mutate(path.read_text()))
    with pytest.raises(ResultsError) as err:
        load_run(tmp_path)
    assert words in str(err.value) and "run.json" in str(err.value)


def test_failed_cell_needs_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        CellRecord(cell_id="a", variant="a", steps=("full",), runtime="torch", scenario="accuracy", status="failed")
