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


def golden_run(label_names=("negative", "neutral", "positive"), suite_name="golden") -> RunRecord:
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
    )
    return RunRecord(run_id="20260101T000000Z-abc1234", suite_name=suite_name, suite={**SUITE, "name": suite_name},
                     suite_path="suites/golden.toml", profile=PROFILE,
                     environment={"cpu_model": "Test CPU", "cpu_count": 2, "cpu_flags": {"avx2": True},
                                  "gpu_name": None, "git": {"commit": "abc", "dirty": False},
                                  "packages": {"torch": "2.13.0"}},
                     data={"label_names": list(label_names), **{s: {"rows": 10, "sha256": "0" * 64} for s in ("train", "val", "test")}},
                     cells=cells, status="finished", started_at="2026-01-01T00:00:00+00:00")
