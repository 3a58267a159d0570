"""A hand-made run record (no measurement) for report, record and compare tests."""

from bench.record import CellRecord, RunRecord

SUITE = {"name": "golden", "slo": {"p99_ms": 50.0, "seq_len": 64, "accuracy_floor": 0.99}}
PROFILE = {"name": "test-cpu", "instance": "test.large", "price_usd_per_hour": 3.6, "price_source": "made up for a test",
           "price_date": "2026-01", "device": "cpu"}


def offline(variant, steps, runtime, bs, p50, throughput, seq=64, status="ok", reason=None):
    if status != "ok":
        return CellRecord(cell_id=f"{variant}/offline/bs{bs}/seq{seq}", variant=variant, steps=steps, runtime=runtime,
                          scenario="offline", status=status, reason=reason, batch_size=bs, seq_len=seq)
    samples = [p50 * (1 + 0.01 * (i % 5)) for i in range(100)]
    return CellRecord(cell_id=f"{variant}/offline/bs{bs}/seq{seq}", variant=variant, steps=steps, runtime=runtime,
                      scenario="offline", status="ok", batch_size=bs, seq_len=seq,
                      latency={"samples_ms": samples, "warmup_ms": [p50] * 3, "stopped_by": "rule"},
                      throughput_samples_per_s=throughput,
                      cost={"usd_per_million": 3.6 / (throughput * 3600) * 1e6, "price_usd_per_hour": 3.6},
                      memory={"peak_rss_mib": 500.0}, model={"parameters": 1000, "size_on_disk_mib": 1.0})


def quality(variant, steps, runtime, acc):
    return CellRecord(cell_id=f"{variant}/accuracy", variant=variant, steps=steps, runtime=runtime, scenario="accuracy",
                      status="ok", quality={"accuracy": acc, "accuracy_ci95": [acc - 0.02, acc + 0.02], "macro_f1": acc - 0.05,
                                            "macro_f1_ci95": [acc - 0.07, acc - 0.03], "n_examples": 1000,
                                            "majority_class_rate": 0.4, "predictions": [0, 1, 2]})


def probe(qps, p99_upper, p99=None):
    p99 = p99 if p99 is not None else (p99_upper - 2 if p99_upper else 60.0)
    return {"offered_qps": qps, "queries": 1000, "completed": 1000 if p99_upper else 40, "achieved_qps": qps,
            "p50_ms": p99 / 3, "p90_ms": p99 / 2, "p99_ms": p99, "p99_upper_ms": p99_upper, "max_ms": p99 + 5,
            "mean_batch_size": 1.5, "passed": p99_upper is not None and p99_upper <= SUITE["slo"]["p99_ms"],
            "stopped_early": p99_upper is None}


def server(variant, steps, runtime, probes, max_bs=4, delay=5.0):
    passing = [p for p in probes if p["passed"]]
    best = max(passing, key=lambda p: p["offered_qps"]) if passing else None
    record = {"slo_p99_ms": SUITE["slo"]["p99_ms"], "settings": [
        {"max_batch_size": max_bs, "max_queue_delay_ms": delay, "service_ms_at_max_batch": 10.0,
         "max_qps": best and best["offered_qps"], "probes": probes, "samples_ms_at_max_qps": None}],
        "best": best and {"max_batch_size": max_bs, "max_queue_delay_ms": delay, "max_qps": best["offered_qps"]}}
    return CellRecord(cell_id=f"{variant}/server", variant=variant, steps=steps, runtime=runtime, scenario="server",
                      status="ok", seq_len=64, server=record,
                      latency={"samples_ms": [best["p99_ms"] / 3] * 98 + [best["p99_ms"]] * 2} if best else None,
                      throughput_samples_per_s=best and best["offered_qps"],
                      cost=best and {"usd_per_million": 3.6 / (best["offered_qps"] * 3600) * 1e6, "price_usd_per_hour": 3.6})


SERVER_CELLS = (
    server("full", ("full",), "torch", [probe(10, 40.0), probe(20, 48.0), probe(25, None)]),
    server("onnx", ("full", "onnx"), "onnxruntime", [probe(50, 30.0), probe(80, 45.0), probe(90, None)]),
    server("tiny", ("full", "tiny"), "torch", [probe(300, 20.0)]),  # fast, but below the accuracy floor
)


def golden_run(label_names=("negative", "neutral", "positive"), suite_name="golden", with_server=False,
               profile=None) -> RunRecord:
    cells = (
        quality("full", ("full",), "torch", 0.80),
        offline("full", ("full",), "torch", 1, 20.0, 50.0),
        offline("full", ("full",), "torch", 8, 60.0, 130.0),
        quality("onnx", ("full", "onnx"), "onnxruntime", 0.80),
        offline("onnx", ("full", "onnx"), "onnxruntime", 1, 5.0, 200.0),
        offline("onnx", ("full", "onnx"), "onnxruntime", 8, 30.0, 260.0),  # within SLO, cheapest at floor
        quality("tiny", ("full", "tiny"), "torch", 0.70),
        offline("tiny", ("full", "tiny"), "torch", 8, 10.0, 900.0),  # cheapest, but below the floor
        offline("trt", ("full", "tensorrt"), "tensorrt", 8, 0, 0, status="unsupported", reason="no CUDA device here"),
    ) + (SERVER_CELLS if with_server else ())
    return RunRecord(run_id="20260101T000000Z-abc1234", suite_name=suite_name, suite={**SUITE, "name": suite_name},
                     suite_path="suites/golden.toml", profile=profile or PROFILE,
                     environment={"cpu_model": "Test CPU", "cpu_count": 2, "cpu_flags": {"avx2": True},
                                  "gpu_name": None, "git": {"commit": "abc", "dirty": False},
                                  "packages": {"torch": "2.13.0"}},
                     data={"label_names": list(label_names), **{s: {"rows": 10, "sha256": "0" * 64} for s in ("train", "val", "test")}},
                     cells=cells, status="finished", started_at="2026-01-01T00:00:00+00:00")


KIND_FIGURES = {  # the primary metric of full, onnx and tiny, and its interval's half-width
    "regression": ("rmse", {"full": 0.50, "onnx": 0.51, "tiny": 0.70}, 0.04),
    "binary": ("pr_auc", {"full": 0.60, "onnx": 0.59, "tiny": 0.30}, 0.08),
}


def kind_quality(variant, steps, runtime, kind, primary, half_width=0.04):
    """An accuracy cell of a regression or binary task, its primary metric `primary` +- half_width."""
    metric = KIND_FIGURES[kind][0]
    figures = ({"rmse": primary, "mae": primary * 0.8, "spearman": 0.6} if kind == "regression"
               else {"pr_auc": primary, "roc_auc": 0.9, "f1": primary - 0.1, "recall": 0.5, "accuracy": 0.97,
                     "macro_f1": 0.7})
    q = {**figures, **{f"{k}_ci95": [v - half_width, v + half_width] for k, v in figures.items()},
         "kind": kind, "metric": metric, "primary": primary, "primary_ci95": [primary - half_width, primary + half_width],
         "n_examples": 1000, "predictions": [0.1, 0.2]}
    return CellRecord(cell_id=f"{variant}/accuracy", variant=variant, steps=steps, runtime=runtime, scenario="accuracy",
                      status="ok", quality=q)


def kind_run(kind: str, floor: float = 0.95, quality_floor: float | None = None, with_server: bool = False) -> RunRecord:
    """golden_run's cells with a regression or binary task's quality (full and onnx close, tiny far off)."""
    metric, values, half = KIND_FIGURES[kind]
    base = golden_run(with_server=with_server)
    cells = tuple(kind_quality(c.variant, c.steps, c.runtime, kind, values[c.variant], half) if c.scenario == "accuracy"
                  else c for c in base.cells)
    slo = {**SUITE["slo"], "accuracy_floor": floor, "quality_floor": quality_floor, "target_qps": 200.0}
    suite = {**base.suite, "slo": slo, "task": {"kind": kind, "metric": metric}}
    return RunRecord(**{**base.__dict__, "cells": cells, "suite": suite, "suite_name": f"golden-{kind}"})
