"""Accuracy scenario: the variant's predictions on the test split, with bootstrap CIs (one per variant)."""

from __future__ import annotations

from bench.jobspec import AccuracyJob
from bench.results import ProcessResult
from bench.scenarios.base import PlannedCell, Scenario, register_scenario, single_process


def plan_cells(suite, variant) -> list[PlannedCell]:
    return [PlannedCell("accuracy")]


def make_job(suite, cell: PlannedCell, common: dict) -> AccuracyJob:
    return AccuracyJob(**common, max_length=suite.finetune.max_length, eval_batch_size=suite.measure.eval_batch_size)


def run(job: AccuracyJob, progress) -> ProcessResult:
    import numpy as np

    from bench.evaluate import predict_logits
    from bench.scenarios.common import host_memory, load_session, load_test_split
    from bench.stats import quality_summary

    session = load_session(job)
    test, tokenizer = load_test_split(job)
    logits = predict_logits(session, tokenizer, test.texts, max_length=job.max_length, batch_size=job.eval_batch_size,
                            on_batch=lambda done, total: progress("accuracy on test split", done, total))
    predictions = logits.argmax(-1)
    quality = quality_summary(predictions, np.asarray(test.labels), len(job.label_names), seed=job.seed)
    quality.update(eval_max_length=job.max_length, eval_batch_size=job.eval_batch_size,
                   padding="longest in length-sorted batch", predictions=predictions.tolist())
    return ProcessResult(quality=quality, memory=host_memory(), runtime_info=session.describe())


def echo(cell) -> str:
    q = cell.quality
    return (f"[green]ok[/]          {cell.cell_id}: accuracy {q['accuracy']:.4f} "
            f"[{q['accuracy_ci95'][0]:.3f}, {q['accuracy_ci95'][1]:.3f}]  macro-F1 {q['macro_f1']:.4f}")


ACCURACY = register_scenario(Scenario("accuracy", plan_cells, make_job, run, single_process, echo))
