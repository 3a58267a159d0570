"""Schema 2: a run written by main 283c4ae (schema 1) still loads, re-renders and keeps its pooled
latency; a newer schema is refused by name; to_json/from_json round-trips equal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import ResultsError
from bench.record import SCHEMA_VERSION, RunRecord, load_run, save_run

V1 = Path(__file__).parent / "fixtures" / "schema_v1"


def _v1_raw() -> dict:
    return json.loads((V1 / "run.json").read_text())


def test_version_1_run_loads_with_its_processes_and_pooled_latency():
    raw = _v1_raw()
    assert raw["schema_version"] == 1
    run = load_run(V1)
    for stored in raw["cells"]:
        cell = run.cell(stored["cell_id"])
        assert cell.latency == stored.get("latency")  # the derived view is the v1 pooled data, exactly
        counts = (stored.get("latency") or {}).get("process_sample_counts")
        if counts:
            assert [len(p.samples_ms) for p in cell.processes] == counts


def test_version_1_run_re_renders_the_same_report(tmp_path):
    from bench.report.render import write_report

    shutil.copy(V1 / "run.json", tmp_path / "run.json")
    paths = write_report(tmp_path)
    # every table of the report main 283c4ae wrote for this run, row for row (the header and the
    # recommendation's wording have changed since: they now name the machine measured and the profile priced)
    new, old = (_tables(Path(p).read_text()) for p in (paths["md"], V1 / "report.md"))
    assert len(old) == 6
    for table in old:  # every column of every table it wrote, row for row; columns added since (#20) aside
        header = [RENAMED.get(h, h) for h in table[0]]
        match = next((t for t in new if set(header) <= set(t[0]) and len(t) == len(table)), None)
        assert match is not None, f"no table with columns {header}"
        cols = [match[0].index(h) for h in header]
        assert [[row[i] for i in cols] for row in match[1:]] == table[1:], header


RENAMED = {"max QPS within SLO": "capacity QPS (conservative)",  # #20: one repetition's peak is its conservative one
           "val accuracy": "validation accuracy"}  # the task's primary metric, named (accuracy for this run)


def _tables(markdown: str) -> list[list[list[str]]]:
    """The markdown's tables: each a list of rows (header first, the |---| line dropped) of stripped cells."""
    import itertools

    lines = markdown.splitlines()
    blocks = [list(g) for is_table, g in itertools.groupby(lines, key=lambda x: x.startswith("|")) if is_table]
    return [[[c.strip() for c in row.strip("|").split("|")] for row in b if not row.startswith("|---")] for b in blocks]


def test_version_1_run_saved_again_is_version_2_and_round_trips(tmp_path):
    run = load_run(V1)
    save_run(tmp_path, run)
    stored = json.loads((tmp_path / "run.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION == 2
    assert all("latency" not in c for c in stored["cells"])
    assert load_run(tmp_path) == run
    assert RunRecord.from_dict(json.loads(run.to_json())) == run


def test_a_newer_schema_is_refused_as_such(tmp_path):
    raw = _v1_raw()
    raw.update(schema_version=SCHEMA_VERSION + 1, some_new_field=1)
    (tmp_path / "run.json").write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match="newer schema"):
        load_run(tmp_path)


def test_version_1_counts_that_do_not_add_up_are_refused(tmp_path):
    raw = _v1_raw()
    cell = next(c for c in raw["cells"] if (c.get("latency") or {}).get("process_sample_counts"))
    cell["latency"]["process_sample_counts"][0] += 1
    (tmp_path / "run.json").write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match="do not match"):
        load_run(tmp_path)
