"""What a worker does with a job: build one step, measure a cell (by its scenario, bench/scenarios/),
or (tests) call a function. Each takes a typed job (bench/jobspec.py) and a progress callback."""

from __future__ import annotations

from pathlib import Path

from bench.errors import Unsupported
from bench.jobspec import BuildJob, CallJob, CellJob


def build(job: BuildJob, progress) -> dict:
    """Build one step into job.out_dir; returns the step's info with build_wall_s and peak memory."""
    from bench.config import FineTune, Tuning
    from bench.registry import STEPS
    from bench.scenarios.common import host_memory
    from bench.steps.base import BuildContext
    from bench.timing import wall_clock_s

    step = STEPS[job.step]
    reason = step.why_unsupported(job.device) or task_unsupported_reason(job)
    if reason:
        raise Unsupported(reason)
    ctx = BuildContext(
        out_dir=Path(job.out_dir), parent_dir=Path(job.parent_dir) if job.parent_dir else None,
        base_model_dir=Path(job.base_model_dir), params=step.params.model_validate(job.params),
        finetune=FineTune.model_validate(job.finetune), train_path=Path(job.train_path),
        val_path=Path(job.val_path), label_names=tuple(job.label_names), device=job.device,
        threads=job.threads, trust_remote_code=job.trust_remote_code,
        eval_batch_size=job.eval_batch_size, progress=progress,
        tuning=None if job.tuning is None else Tuning.model_validate(job.tuning))
    t0 = wall_clock_s()
    info = step.build(ctx)
    return {**info, "build_wall_s": wall_clock_s() - t0, **host_memory()}


def task_unsupported_reason(job: BuildJob) -> str | None:
    """Why the step cannot serve this run's task (data/task.json beside the splits), or None.

    Every step serves every kind (classification, binary, regression: one output, MSE; checked per kind in
    tests/test_variants.py). A pair task needs a tokenizer that marks where the second text starts; the
    step that starts from the base model (no input formats: full, lora) checks it, its descendants inherit
    the tokenizer and its refusal."""
    from bench.data import read_task_info
    from bench.registry import STEPS
    from bench.steps.base import unmarked_pair_reason

    pair_column = read_task_info(Path(job.train_path)).get("text_pair_column")
    if pair_column is None or STEPS[job.step].input_formats:
        return None
    from bench.models import load_tokenizer

    return unmarked_pair_reason(load_tokenizer(Path(job.base_model_dir), job.trust_remote_code), pair_column)


def call(job: CallJob, progress):
    """Run `job.target` ("module:function"): how tests inject faults into a real worker. The job comes
    from the parent process, never from a file."""
    import importlib

    module, _, name = job.target.partition(":")
    return getattr(importlib.import_module(module), name)(job, progress)


def run(job, progress):
    """Dispatch by the job's type: a build, a test call, or a cell measured by its scenario."""
    if isinstance(job, BuildJob):
        return build(job, progress)
    if isinstance(job, CallJob):
        return call(job, progress)
    if isinstance(job, CellJob):
        from bench.scenarios import SCENARIOS

        return SCENARIOS[job.kind].run(job, progress)
    raise TypeError(f"not a bench job: {type(job).__name__}")
