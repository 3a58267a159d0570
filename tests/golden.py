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


def capacity(repetitions_qps):
    """cell.server["capacity"] as the server branch records it: the lowest repetition planned on, the median typical."""
    reps = sorted(repetitions_qps)
    n = len(reps)
    typical = reps[n // 2] if n % 2 else (reps[n // 2 - 1] + reps[n // 2]) / 2
    return {"repetitions_qps": list(repetitions_qps), "conservative_qps": reps[0], "typical_qps": typical,
            "conservative_rule": f"lowest of {n} repetitions", "typical_rule": f"median of {n} repetitions",
            "repetitions": n}


TRAFFIC = {"fixed": {"name": "fixed", "description": "every request padded to slo.seq_len (64 tokens)", "lengths": None},
           "real": {"name": "real", "description": "test-split texts at their own length; each batch padded to its longest",
                    "lengths": {"min": 9, "p50": 31, "max": 128}}}


def server(variant, steps, runtime, probes, max_bs=4, delay=5.0, repetitions_qps=None, traffic=None):
    """A server cell; without repetitions_qps and traffic, the shape of records older than repeated peaks."""
    passing = [p for p in probes if p["passed"]]
    best = max(passing, key=lambda p: p["offered_qps"]) if passing else None
    record = {"slo_p99_ms": SUITE["slo"]["p99_ms"], "settings": [
        {"max_batch_size": max_bs, "max_queue_delay_ms": delay, "service_ms_at_max_batch": 10.0,
         "max_qps": best and best["offered_qps"], "probes": probes, "samples_ms_at_max_qps": None}],
        "best": best and {"max_batch_size": max_bs, "max_queue_delay_ms": delay, "max_qps": best["offered_qps"]}}
    if repetitions_qps:
        record["capacity"] = capacity(repetitions_qps)
    if traffic:
        record["traffic"] = TRAFFIC[traffic]
    suffix = "-real" if traffic == "real" else ""
    return CellRecord(cell_id=f"{variant}/server{suffix}", variant=variant, steps=steps, runtime=runtime, scenario="server",
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


# ---- a run shaped like the default suite: 13 variants, 3 processes per offline cell, repeated peaks ----
# (variant, steps, runtime, accuracy, p50 ms at batch 1, samples/s at batch 32) or None: unsupported on a CPU
CROWDED = (("full", ("full",), "torch", 0.80, 9.0, 140.0), ("onnx", ("full", "onnx"), "onnxruntime", 0.80, 6.0, 190.0),
           ("int8", ("full", "onnx", "int8"), "onnxruntime", 0.80, 3.5, 420.0),
           ("bf16", ("full", "bf16"), "torch", 0.80, 30.0, 40.0), ("lora", ("lora",), "torch", 0.78, 10.0, 120.0),
           ("lora-merged", ("lora", "merge"), "torch", 0.78, 9.0, 138.0),
           ("pruned", ("full", "pruned"), "torch", 0.795, 5.5, 250.0),
           ("distilled", ("full", "distilled"), "torch", 0.76, 3.2, 470.0),
           ("distilled+int8", ("full", "distilled", "onnx", "int8"), "onnxruntime", 0.755, 1.6, 900.0),
           ("pruned+int8", ("full", "pruned", "onnx", "int8"), "onnxruntime", 0.78, 2.2, 640.0),
           ("fp16", ("full", "fp16"), "torch", None, 0, 0), ("tensorrt-fp16", ("full", "tensorrt"), "tensorrt", None, 0, 0),
           ("tensorrt-int8", ("full", "tensorrt-int8"), "tensorrt", None, 0, 0))
CROWDED_SERVED = {"full": (52, 61, 57), "int8": (436.8, 643.9, 540.0), "pruned": (120, 150, 131),
                  "distilled": (230, 260, 244), "distilled+int8": (520, 610, 575), "pruned+int8": (575.6, 755.5, 690)}


def offline_processes(variant, steps, runtime, bs, p50, throughput, spread=0.02, processes=3):
    """An offline cell of `processes` worker processes whose medians differ by about `spread` (relative)."""
    base = offline(variant, steps, runtime, bs, p50, throughput)
    samples = [p50 * (1 + spread * (k - 1)) * (1 + 0.01 * (i % 5)) for k in range(processes) for i in range(60)]
    latency = {"samples_ms": samples, "warmup_ms": [p50] * (3 * processes), "stopped_by": "rule",
               "process_sample_counts": [60] * processes, "process_warmup_counts": [3] * processes}
    return CellRecord(**{**base.__dict__, "latency": latency, "processes": ()})


def crowded_server(variant, steps, runtime, reps, traffic="fixed"):
    """A served variant: probes up to its conservative peak pass, the next fails; `reps` its repeated peaks."""
    low = min(reps)
    probes = [probe(low / 4, 30.0), probe(low / 2, 38.0), probe(low, 47.0), probe(low * 1.2, 70.0, p99=65.0)]
    return server(variant, steps, runtime, probes, repetitions_qps=reps, traffic=traffic)


def crowded_run() -> RunRecord:
    """13 variants (3 unsupported), offline cells at batch 1, 8 and 32 measured in 3 processes each (pruned's
    spread high), six served variants with 3 repeated peaks each, int8 and pruned+int8 also under real traffic."""
    cells = []
    for name, steps, runtime, acc, p50, tput in CROWDED:
        if acc is None:
            cells += [offline(name, steps, runtime, bs, 0, 0, status="unsupported", reason="needs a CUDA device")
                      for bs in (1, 8, 32)]
            continue
        cells.append(quality(name, steps, runtime, acc))
        cells += [offline_processes(name, steps, runtime, bs, p50 * bs * tput_scale, tput * (bs / 32) ** 0.25,
                                    spread=0.15 if name == "pruned" else 0.02)
                  for bs, tput_scale in ((1, 1.0), (8, 0.5), (32, 0.3))]
        if name in CROWDED_SERVED:
            cells.append(crowded_server(name, steps, runtime, CROWDED_SERVED[name]))
            if name in ("int8", "pruned+int8"):
                cells.append(crowded_server(name, steps, runtime, [q * 0.8 for q in CROWDED_SERVED[name]], "real"))
    suite = {**SUITE, "name": "crowded", "slo": {**SUITE["slo"], "target_qps": 200.0},
             "variants": [{"name": v[0]} for v in CROWDED]}
    base = golden_run()
    return RunRecord(**{**base.__dict__, "cells": tuple(cells), "suite": suite, "suite_name": "crowded",
                        "environment": {**base.environment, "machine": MACHINE}})


MACHINE = {"description": "AMD EPYC 7B13 (Zen 3, AVX2; no AVX-512/VNNI/BF16/AMX), 2 vCPUs, 23.5 GiB",
           "microarchitecture": "Zen 3", "cpu_model_name": "AMD EPYC 7B13"}
