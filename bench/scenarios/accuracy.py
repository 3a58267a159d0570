"""Accuracy scenario: the variant's predictions on the test split and the task kind's metrics, each with a
95% bootstrap CI (one cell per variant). `quality.metric` names the suite's primary metric and
`quality.primary` / `primary_ci95` hold it, so the reading wing needs no knowledge of the kind."""

from __future__ import annotations

from pathlib import Path

from bench.jobspec import AccuracyJob
from bench.results import ProcessResult
from bench.scenarios.base import PlannedCell, Scenario, register_scenario, single_process


def plan_cells(suite, variant) -> list[PlannedCell]:
    return [PlannedCell("accuracy")]


def make_job(suite, cell: PlannedCell, common: dict) -> AccuracyJob:
    return AccuracyJob(**common, max_length=suite.finetune.max_length, eval_batch_size=suite.measure.eval_batch_size)


def _logits(job: AccuracyJob, session, tokenizer, split, label: str, progress):
    from bench.evaluate import predict_logits

    return predict_logits(session, tokenizer, split.texts, pairs=split.pairs, max_length=job.max_length,
                          batch_size=job.eval_batch_size, on_batch=lambda done, total: progress(label, done, total))


def _classification(job, logits, labels, info) -> dict:
    from bench.stats import quality_summary

    predictions = logits.argmax(-1)
    return {**quality_summary(predictions, labels, len(job.label_names), seed=job.seed),
            "predictions": predictions.tolist()}


def _regression(job, logits, labels, info) -> dict:
    import numpy as np

    from bench.metrics import regression_summary

    pred = logits[:, 0].astype(float)
    clipped = info.get("clip_predictions") and "target_range" in info
    if clipped:
        pred = np.clip(pred, *info["target_range"])  # to the training targets' range, as the suite says
    return {**regression_summary(pred, labels.astype(float), seed=job.seed), "n_examples": int(labels.size),
            "clipped_to": info["target_range"] if clipped else None, "predictions": pred.tolist()}


def _positive_scores(logits):
    import numpy as np

    z = logits - logits.max(-1, keepdims=True)
    return (np.exp(z[:, 1]) / np.exp(z).sum(-1)).astype(float)  # softmax probability of the positive class


def _binary(job, logits, labels, info, val_logits=None, val_labels=None) -> dict:
    from bench.metrics import best_f1_threshold, binary_summary
    from bench.stats import quality_summary

    scores = _positive_scores(logits)
    has_val = val_logits is not None and len(val_labels)
    threshold = best_f1_threshold(_positive_scores(val_logits), val_labels) if has_val else 0.5
    predictions = (scores >= threshold).astype(int)
    return {**quality_summary(predictions, labels, 2, seed=job.seed), **binary_summary(scores, labels, threshold, seed=job.seed),
            "threshold": threshold, "threshold_chosen_on": "validation split (best F1)" if has_val else "default 0.5 (no validation split)",
            "positive_label": info.get("positive_label"), "scores": scores.tolist(), "predictions": predictions.tolist()}


def run(job: AccuracyJob, progress) -> ProcessResult:
    import numpy as np

    from bench.data import read_split, read_task_info
    from bench.scenarios.common import host_memory, load_session, load_test_split

    info = read_task_info(Path(job.test_path))
    kind = info.get("kind", "classification")
    session = load_session(job)
    test, tokenizer = load_test_split(job)
    logits = _logits(job, session, tokenizer, test, "accuracy on test split", progress)
    labels = np.asarray(test.labels)
    if kind == "binary":
        val = read_split(Path(job.test_path).with_name("val.jsonl"))
        val_logits = _logits(job, session, tokenizer, val, "threshold on validation split", progress) if val.texts else None
        quality = _binary(job, logits, labels, info, val_logits, np.asarray(val.labels))
    else:
        quality = (_regression if kind == "regression" else _classification)(job, logits, labels, info)
    metric = info.get("metric", "accuracy")
    quality.update(kind=kind, metric=metric, primary=quality[metric], primary_ci95=quality[f"{metric}_ci95"],
                   eval_max_length=job.max_length, eval_batch_size=job.eval_batch_size,
                   padding="longest in length-sorted batch")
    return ProcessResult(quality=quality, memory=host_memory(), runtime_info=session.describe())


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "[undefined]"


def echo(cell) -> str:
    q = cell.quality
    metric = q.get("metric", "accuracy")
    line = f"[green]ok[/]          {cell.cell_id}: {metric} {q[metric]:.4f} {_ci(q.get(f'{metric}_ci95'))}"
    if metric != "accuracy" and "accuracy" in q:
        line += f"  accuracy {q['accuracy']:.4f}"
    if "macro_f1" in q:
        line += f"  macro-F1 {q['macro_f1']:.4f}"
    return line


ACCURACY = register_scenario(Scenario("accuracy", plan_cells, make_job, run, single_process, echo))
