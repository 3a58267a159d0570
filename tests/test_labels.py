"""Hardware truth in every output (issue #16): a run measured on one machine and priced as another's
profile says so wherever a dollar figure is shown; a run without a price says "no price" and ranks by
throughput; `bench plan` refuses one profile measured on two machines; compare names the
microarchitecture. Hand-made run records (tests/golden.py), no model."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from rich.console import Console

from bench.cli import app
from bench.errors import BenchError
from bench.record import save_run
from bench.report.labels import header_line, pricing_label
from bench.report.render import write_report
from bench.report.terminal import print_summary
from tests.golden import golden_run

ZEN5 = {"description": "AMD EPYC 9R45 (Zen 5; AVX-512, VNNI, BF16), 2 vCPUs, 7.6 GiB", "cpu_vendor": "AMD",
        "cpu_model_name": "AMD EPYC 9R45 96-Core Processor", "microarchitecture": "Zen 5",
        "isa": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], "usable_cores": 2, "memory_mib": 7782, "gpus": []}
ZEN3 = {"description": "AMD EPYC 7R13 (Zen 3; AVX2, no AVX-512/VNNI/BF16/AMX), 2 vCPUs, 3.7 GiB", "cpu_vendor": "AMD",
        "cpu_model_name": "AMD EPYC 7R13 Processor", "microarchitecture": "Zen 3", "isa": ["avx2"], "usable_cores": 2,
        "memory_mib": 3788, "gpus": []}
LABEL = f"measured on {ZEN5['description']}, priced as test-cpu (test.large)"
LOCAL = {"name": "local", "instance": "this machine", "price_usd_per_hour": None, "price_source": None,
         "price_date": None, "device": "cpu"}


def _on(run, machine: dict, status: str, mismatches=(), run_id=None):
    """`run` as if measured on `machine`, with the profile check `status`."""
    env = {**run.environment, "cpu_model": machine["cpu_model_name"], "machine": machine,
           "profile_check": {"status": status, "mismatches": list(mismatches), "profile": run.profile["name"]}}
    return dataclasses.replace(run, environment=env, run_id=run_id or run.run_id)


def _served(run):
    """With server results and a target load, so report.md and report.html carry a capacity plan."""
    return dataclasses.replace(run, suite={**run.suite, "slo": {**run.suite["slo"], "target_qps": 200.0}})


def _unpriced(run):
    """The `local` profile without a price: cells carry no dollars."""
    cells = tuple(dataclasses.replace(c, cost={"usd_per_million": None, "price_usd_per_hour": None}) if c.cost else c
                  for c in run.cells)
    return dataclasses.replace(run, profile=LOCAL, cells=cells)


def _outputs(tmp_path, run) -> dict[str, str]:
    """Every output a run's dollars appear in: terminal, report.md/html, cells.csv, plan.md/json, compare.md."""
    save_run(tmp_path / "run", run)
    paths = write_report(tmp_path / "run")
    console = Console(record=True, width=250)
    print_summary(tmp_path / "run", console)
    app(["plan", str(tmp_path / "run"), "--qps", "200", "--p99-ms", "50", "--out", str(tmp_path / "plan")],
        standalone_mode=False)
    app(["compare", str(tmp_path / "run"), str(tmp_path / "run"), "--out", str(tmp_path / "cmp")], standalone_mode=False)
    texts = {"terminal": console.export_text(), "md": paths["md"].read_text(), "html": paths["html"].read_text(),
             "csv": paths["csv"].read_text(), "plan.md": (tmp_path / "plan" / "plan.md").read_text(),
             "plan.json": (tmp_path / "plan" / "plan.json").read_text(),
             "compare.md": (tmp_path / "cmp" / "compare.md").read_text()}
    return {k: " ".join(v.split()) for k, v in texts.items()}  # rich wraps long lines


def test_a_mismatch_is_labelled_in_every_output(tmp_path):
    run = _on(_served(golden_run(with_server=True)), ZEN5, "mismatch_allowed",
              ["microarchitecture: Zen 5 here, Zen 3 in the profile"])
    assert pricing_label(run) == LABEL
    out = _outputs(tmp_path, run)
    for name, text in out.items():
        assert LABEL in text, name
    assert "Zen 5 here, Zen 3 in the profile" in out["md"] and '<div class="warn" role="alert">' in out["html"]
    assert "which stands for OTHER hardware" in out["md"]  # the recommendation says they differ
    assert json.loads(out["plan.json"])["rows"][0]["pricing_label"] == LABEL


def test_a_match_carries_no_label_but_names_both(tmp_path):
    out = _outputs(tmp_path, _on(_served(golden_run(with_server=True)), ZEN3, "match"))
    for name, text in out.items():
        assert "mismatch" not in text.lower() and f"measured on {ZEN3['description']}, priced as" not in text, name
    header = (f"Measured on: {ZEN3['description']}. Priced as: test-cpu (test.large, $3.6/h, made up for a test, "
              "2026-01).")
    for name in ("terminal", "md", "html"):
        assert header in out[name], name
    assert f"Measured on {ZEN3['description']}, priced as test-cpu (test.large), $3.6/h, the hardware that " in out["md"]


def test_a_run_measured_on_a_simulated_cluster_node_says_so_in_its_header(tmp_path):
    run = _on(golden_run(), ZEN3, "mismatch_allowed", ["simulated node (bench node --simulated)"])
    run = dataclasses.replace(run, environment={**run.environment, "cluster": {"executor": "ray", "simulated": True}})
    assert "(a simulated cluster node: it only plays the profile)" in header_line(run)
    save_run(tmp_path / "run", run)
    paths = write_report(tmp_path / "run")
    console = Console(record=True, width=250)
    print_summary(tmp_path / "run", console)
    for text in (console.export_text(), paths["md"].read_text(), paths["html"].read_text()):
        assert f"Measured on: {ZEN3['description']} (a simulated cluster node" in " ".join(text.split())
    real = dataclasses.replace(run, environment={**run.environment, "cluster": {"executor": "ray", "simulated": False}})
    assert "simulated" not in header_line(real)


def test_older_runs_fall_back_to_the_cpu_model():
    assert header_line(golden_run()) == ("Measured on: Test CPU, 2 usable cores. Priced as: test-cpu (test.large, "
                                         "$3.6/h, made up for a test, 2026-01).")
    assert pricing_label(golden_run()) is None


def test_no_price_says_so_and_ranks_by_throughput(tmp_path):
    out = _outputs(tmp_path, _on(_unpriced(_served(golden_run(with_server=True))), ZEN5, "local"))
    for name, text in out.items():
        if name != "compare.md":  # compare has no cost metric without a price
            assert "no price" in text, name
        assert not re.search(r"\bnan\b|\$None|\$0\.0+\b", text, re.IGNORECASE), name
    assert "Priced as: local (this machine): no price (give --price-usd-per-hour or a profile file)." in out["md"]
    assert "ranked by throughput" in out["md"] and "**onnx** (onnxruntime) at batch size 8" in out["md"]
    assert "| 260.0 | 2.00x | no price |" in out["md"]  # the USD/1M column of onnx bs8
    plan = json.loads(out["plan.json"])
    feasible = [r for r in plan["rows"] if r["feasible"]]
    assert [(r["variant"], r["replicas"]) for r in feasible] == [("onnx", 3), ("full", 10)]  # by replicas
    assert all(r["monthly_usd"] is None and r["usd_per_million"] is None and r["price"] == "no price" for r in feasible)
    assert "| 3 | 83% | no price | no price |" in out["plan.md"]


def test_no_price_frontier_uses_throughput():
    from bench.report.render import build_view

    priced, unpriced = build_view(golden_run()), build_view(_unpriced(golden_run()))
    key = lambda v: sorted((p["variant"], p["batch_size"]) for p in v["frontier"])  # noqa: E731
    assert key(priced) == key(unpriced)  # one price for all cells: the same frontier


def test_plan_refuses_one_profile_measured_on_two_machines(tmp_path):
    save_run(tmp_path / "a", _on(golden_run(with_server=True), ZEN5, "mismatch_allowed"))
    save_run(tmp_path / "b", _on(golden_run(with_server=True), ZEN3, "match", run_id="20260102T000000Z-def5678"))
    with pytest.raises(BenchError) as e:
        app(["plan", str(tmp_path / "a"), str(tmp_path / "b"), "--qps", "200", "--p99-ms", "50",
             "--out", str(tmp_path / "p")], standalone_mode=False)
    message = str(e.value)
    assert e.value.exit_code == 2 and "test-cpu" in message
    assert ZEN5["description"] in message and ZEN3["description"] in message
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message


def test_plan_combines_runs_of_one_profile_on_one_machine(tmp_path):
    from bench.plan import make_plan

    rows = make_plan([_on(golden_run(with_server=True), ZEN3, "match"),
                      _on(golden_run(with_server=True), ZEN3, "match", run_id="x")], qps=200, p99_ms=50)
    assert {r.run_id for r in rows} == {"20260101T000000Z-abc1234", "x"}
    old = golden_run(with_server=True)  # no machine: the CPU model decides
    other = dataclasses.replace(old, environment={**old.environment, "cpu_model": "Other CPU"})
    with pytest.raises(BenchError, match="Test CPU, 2 usable cores vs Other CPU"):
        make_plan([old, other], qps=200, p99_ms=50)


def test_compare_names_the_microarchitecture(tmp_path):
    save_run(tmp_path / "a", _on(golden_run(), ZEN5, "match"))
    save_run(tmp_path / "b", _on(golden_run(), ZEN3, "match"))
    code = app(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")], standalone_mode=False)
    doc = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert code == 2
    assert doc["environment_differences"] == [
        "machine: Zen 5 (AMD EPYC 9R45, AVX-512, VNNI, BF16) -> Zen 3 (AMD EPYC 7R13, AVX2)"]
    # through a baseline file too (schema 2 keeps the machine identity)
    app(["baseline", str(tmp_path / "a"), "--out", str(tmp_path / "a.json.gz")], standalone_mode=False)
    from bench import compare as cmp

    snap = cmp.load_snapshot(tmp_path / "a.json.gz")
    assert snap["environment"]["machine"]["microarchitecture"] == "Zen 5"
    assert cmp.snapshot_differences(snap, cmp.load_snapshot(tmp_path / "b"))[0].startswith("machine: Zen 5 (")
