"""The jobs a worker runs: build one step, measure accuracy, measure offline latency. Each takes the
job description (plain data sent by the parent) and returns plain data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.errors import Unsupported


def _load_session(job: dict):
    from bench.registry import RUNTIMES

    spec = RUNTIMES[job["runtime"]]
    reason = spec.unsupported_reason(job["device"])
    if reason:
        raise Unsupported(f"runtime {spec.name} on {job['device']}: {reason}")
    return spec.load(Path(job["artifact_dir"]), job["device"], job["threads"])


def _memory() -> dict:
    from bench.train import peak_rss_mib

    return {"peak_rss_mib": round(peak_rss_mib(), 1)}


def build(job: dict, progress) -> dict:
    from bench.config import FineTune
    from bench.registry import STEPS
    from bench.steps.base import BuildContext
    from bench.timing import wall_clock_s

    step = STEPS[job["step"]]
    reason = step.why_unsupported(job["device"])
    if reason:
        raise Unsupported(reason)
    ctx = BuildContext(
        out_dir=Path(job["out_dir"]), parent_dir=Path(job["parent_dir"]) if job["parent_dir"] else None,
        base_model_dir=Path(job["base_model_dir"]), params=step.params.model_validate(job["params"]),
        finetune=FineTune.model_validate(job["finetune"]), train_path=Path(job["train_path"]),
        val_path=Path(job["val_path"]), label_names=tuple(job["label_names"]), device=job["device"],
        threads=job["threads"], trust_remote_code=job["trust_remote_code"],
        eval_batch_size=job["eval_batch_size"], progress=progress)
    t0 = wall_clock_s()
    info = step.build(ctx)
    return {**info, "build_wall_s": wall_clock_s() - t0, **_memory()}


def accuracy(job: dict, progress) -> dict:
    from bench.data import read_split
    from bench.evaluate import predict_logits
    from bench.models import load_tokenizer
    from bench.stats import quality_summary

    session = _load_session(job)
    tokenizer = load_tokenizer(Path(job["artifact_dir"]))
    test = read_split(Path(job["test_path"]))
    logits = predict_logits(session, tokenizer, test.texts, max_length=job["max_length"],
                            batch_size=job["eval_batch_size"],
                            on_batch=lambda done, total: progress("accuracy on test split", done, total))
    predictions = logits.argmax(-1)
    quality = quality_summary(predictions, np.asarray(test.labels), len(job["label_names"]), seed=job["seed"])
    quality.update(eval_max_length=job["max_length"], eval_batch_size=job["eval_batch_size"],
                   padding="longest in length-sorted batch", predictions=predictions.tolist())
    return {"quality": quality, "memory": _memory(), "runtime_info": session.describe()}


def offline(job: dict, progress) -> dict:
    from bench.data import read_split
    from bench.models import load_tokenizer
    from bench.stats import summarize_ms
    from bench.timing import StopRule, time_calls

    session = _load_session(job)
    peak_rss_after_load = _memory()["peak_rss_mib"]
    tokenizer = load_tokenizer(Path(job["artifact_dir"]))
    texts = list(read_split(Path(job["test_path"])).texts)
    bs, seq = job["batch_size"], job["seq_len"]
    n_batches = 8  # distinct real batches, cycled, prepared before timing starts
    pool = (texts * (bs * n_batches // max(1, len(texts)) + 1))[: bs * n_batches]
    prepared = [session.prepare(dict(tokenizer(pool[i * bs:(i + 1) * bs], padding="max_length", truncation=True,
                                                max_length=seq, return_tensors="np")))
                for i in range(n_batches)]
    rule = StopRule(**job["stop_rule"])
    progress(f"timing bs={bs} seq={seq}", 0, 1)
    samples = time_calls(lambda i: session.run(prepared[i % n_batches]), rule, synchronize=session.synchronize)
    progress(f"timing bs={bs} seq={seq}", 1, 1)
    summary = summarize_ms(samples.samples_ms)
    return {
        "latency": {"unit": "ms per batch", "samples_ms": samples.samples_ms, "warmup_ms": samples.warmup_ms,
                    "stopped_by": samples.stopped_by, "summary": summary},
        "throughput_samples_per_s": bs / (summary["mean"] / 1000.0),
        "memory": {**_memory(), "peak_rss_after_load_mib": peak_rss_after_load},
        "runtime_info": session.describe(),
    }


def call(job: dict, progress) -> dict:
    """Run `job["target"]` ("module:function"): how tests inject faults into a real worker. The job
    comes from the parent process, never from a file."""
    import importlib

    module, _, name = job["target"].partition(":")
    return getattr(importlib.import_module(module), name)(job, progress)


JOBS = {"build": build, "accuracy": accuracy, "offline": offline, "call": call}
