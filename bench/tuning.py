"""[tuning]: the same budget of trainings for every step that trains, each scored on the validation split.

A step that trains (full, lora, distilled, pruned's recovery) hands `train_with_budget` a function that
trains a fresh model at a learning rate and a number of epochs. With tuning off it is called once, at
the step's own settings (today's artifact, bit for bit). With tuning on it is called once per trial, at
the step's learning rate and epochs times the trial's factors; each trial's model is scored on the
validation split by the suite's metric (its primary metric by default), and the best one is the
artifact: the test split never takes part in the choice. Every trial (factors, settings, validation
figure, training time) and the chosen one go to the step's manifest, and from there to run.json.

Samplers: `grid` (the default) runs the product of the factors in order, or a seeded sample of it where it
has more points than trials; `optuna` asks Optuna's TPE sampler (Bergstra et al. 2011), learning rate
log-uniform between the smallest and largest factor, epochs one of the epoch factors. TPE samples at
random for its first 10 trials (optuna's n_startup_trials), so at the 4-8 trials a CPU budget allows it
is a seeded random search; the grid covers the range evenly and needs no extra package.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.config import Tuning
from bench.errors import BenchError
from bench.metrics import higher_is_better

# trains a fresh model: (learning_rate, epochs, progress description) -> (model, train_classifier's stats)
TrainOnce = Callable[[float, float, str], tuple]


@dataclass(frozen=True)
class Setting:
    learning_rate_factor: float
    epoch_factor: float


def grid_settings(tuning: Tuning) -> list[Setting]:
    """The grid's points (learning rate factors within each epoch factor, in the order given), or a
    sample of `trials` of them (seeded by tuning.seed, kept in grid order) where the grid is larger."""
    lrs, epochs = dict.fromkeys(tuning.learning_rate_factors), dict.fromkeys(tuning.epoch_factors)
    points = [Setting(lr, ep) for ep in epochs for lr in lrs]
    if tuning.trials >= len(points):
        return points
    return [points[i] for i in sorted(random.Random(tuning.seed).sample(range(len(points)), tuning.trials))]


class GridSampler:
    name = "grid"

    def __init__(self, tuning: Tuning, higher: bool):
        self.points = grid_settings(tuning)

    def ask(self, trial: int) -> Setting:
        return self.points[trial]

    def tell(self, trial: int, value: float) -> None:
        pass


class OptunaSampler:
    """Optuna's TPE through its ask-and-tell interface, seeded; a NaN figure is told as a failed trial."""

    name = "optuna"

    def __init__(self, tuning: Tuning, higher: bool):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna, self.tuning, self.pending = optuna, tuning, None
        self.study = optuna.create_study(direction="maximize" if higher else "minimize",
                                         sampler=optuna.samplers.TPESampler(seed=tuning.seed))

    def ask(self, trial: int) -> Setting:
        self.pending = self.study.ask()
        low, high = min(self.tuning.learning_rate_factors), max(self.tuning.learning_rate_factors)
        lr = self.pending.suggest_float("learning_rate_factor", low, high, log=True) if high > low else low
        epochs = self.pending.suggest_categorical("epoch_factor", list(dict.fromkeys(self.tuning.epoch_factors)))
        return Setting(lr, epochs)

    def tell(self, trial: int, value: float) -> None:
        if math.isnan(value):
            self.study.tell(self.pending, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(self.pending, value)


def optuna_missing(tuning: Tuning | None) -> str | None:
    """Why the suite's sampler cannot run here (optuna asked for and not installed), or None."""
    import importlib.util

    if tuning is None or not tuning.active or tuning.sampler != "optuna":
        return None
    if importlib.util.find_spec("optuna") is None:
        return ("tuning.sampler = \"optuna\" needs the optuna package (pip install 'bench[tuning]'); "
                "or use sampler = \"grid\"")
    return None


def make_sampler(tuning: Tuning, higher: bool):
    if (reason := optuna_missing(tuning)) is not None:
        raise BenchError(reason)
    return (OptunaSampler if tuning.sampler == "optuna" else GridSampler)(tuning, higher)


def is_better(value: float, best: float | None, higher: bool) -> bool:
    """Strictly better in the metric's direction (the earlier trial keeps a tie); NaN never wins."""
    if math.isnan(value):
        return best is None
    if best is None or math.isnan(best):
        return True
    return value > best if higher else value < best


def score_logits(logits, labels, metric: str, info: dict) -> float:
    """`metric` of a split's logits (n x classes, or n x 1 for a regression) against its labels, as the
    accuracy cell computes it (bench/scenarios/accuracy.py); F1 and recall at the best-F1 threshold."""
    import numpy as np
    from scipy.special import softmax

    from bench import metrics
    from bench.stats import macro_f1

    labels = np.asarray(labels)
    if info.get("kind") == "regression":
        pred = logits[:, 0].astype(float)
        if info.get("clip_predictions") and "target_range" in info:
            pred = np.clip(pred, *info["target_range"])
        return {"rmse": metrics.rmse, "mae": metrics.mae, "spearman": metrics.spearman}[metric](pred, labels.astype(float))
    if metric in ("pr_auc", "roc_auc", "f1", "recall"):
        scores = softmax(logits.astype(float), -1)[:, 1]  # the positive class's probability
        if metric in ("pr_auc", "roc_auc"):
            return (metrics.average_precision if metric == "pr_auc" else metrics.roc_auc)(scores, labels)
        f1, recall = metrics.f1_and_recall(scores >= metrics.best_f1_threshold(scores, labels), labels)
        return f1 if metric == "f1" else recall
    predictions = logits.argmax(-1)
    if metric == "accuracy":
        return float(np.mean(predictions == labels))
    return float(macro_f1(predictions, labels, logits.shape[-1]))


def validation_logits(model, tokenizer, ctx):
    """(logits [n_val, n_outputs] float32 of `model` on the validation split in PyTorch on ctx.device, the split)."""
    from bench.data import read_split
    from bench.evaluate import predict_logits
    from bench.runtimes.torch_eager import TorchSession

    val = read_split(ctx.val_path)
    logits = predict_logits(TorchSession(model, ctx.device), tokenizer, val.texts, pairs=val.pairs,
                            max_length=ctx.finetune.max_length, batch_size=ctx.eval_batch_size) if val.texts else None
    return logits, val


def validation_score(model, tokenizer, ctx) -> float:
    """ctx.tuning.metric of `model` on the validation split, in PyTorch."""
    from pathlib import Path

    from bench.data import read_task_info

    logits, val = validation_logits(model, tokenizer, ctx)
    return score_logits(logits, val.labels, ctx.tuning.metric, read_task_info(Path(ctx.val_path)))


def trial_record(index: int, setting: Setting, learning_rate: float, epochs: float, value: float, stats: dict) -> dict:
    return {"trial": index, "learning_rate_factor": setting.learning_rate_factor, "epoch_factor": setting.epoch_factor,
            "learning_rate": learning_rate, "epochs": epochs, "value": None if math.isnan(value) else value,
            "train_wall_s": stats["wall_s"], "steps": stats["steps"]}


def trial_line(description: str, record: dict, trials: int, metric: str) -> str:
    """The progress line of a finished trial."""
    value = "undefined" if record["value"] is None else f"{record['value']:.4f}"
    return (f"{description}: trial {record['trial'] + 1}/{trials}: learning rate {record['learning_rate']:.3g}, "
            f"epochs {record['epochs']:g}: validation {metric} {value} (trained in {record['train_wall_s']:.0f} s)")


def train_with_budget(ctx, train_once: TrainOnce, *, learning_rate: float, epochs: float, tokenizer,
                      description: str) -> tuple[object, dict, dict | None]:
    """(the model, its training stats, the tuning record or None): `train_once` at the step's own settings
    where ctx.tuning is None, else the best of ctx.tuning.trials trainings on the validation split."""
    if ctx.tuning is None:
        return (*train_once(learning_rate, epochs, description), None)
    from bench.timing import wall_clock_s

    tuning, t0 = ctx.tuning, wall_clock_s()
    higher = higher_is_better(tuning.metric)
    sampler = make_sampler(tuning, higher)
    trials, best = [], None  # best: (index, value, model, stats)
    for i in range(tuning.trials):
        setting = sampler.ask(i)
        lr, ep = learning_rate * setting.learning_rate_factor, epochs * setting.epoch_factor
        model, stats = train_once(lr, ep, f"{description} (trial {i + 1}/{tuning.trials})")
        value = validation_score(model, tokenizer, ctx)
        sampler.tell(i, value)
        trials.append(trial_record(i, setting, lr, ep, value, stats))
        if is_better(value, None if best is None else best[1], higher):
            best = (i, value, model, stats)
        ctx.progress(trial_line(description, trials[-1], tuning.trials, tuning.metric), 0, 0)  # 0/0: a line
    record = {"sampler": sampler.name, "budget": tuning.trials, "metric": tuning.metric, "split": "validation",
              "direction": "higher" if higher else "lower", "base_learning_rate": learning_rate, "base_epochs": epochs,
              "learning_rate_factors": tuning.learning_rate_factors, "epoch_factors": tuning.epoch_factors,
              "seed": tuning.seed, "trials": trials, "chosen": best[0], "wall_s": wall_clock_s() - t0}
    return best[2], best[3], record
