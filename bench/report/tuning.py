"""The report's tuning section: each trained step's trials and chosen setting, from the build manifests in
run.json (bench/tuning.py writes them), and whether every trained step got the same budget."""

from __future__ import annotations

from bench.cost import usd_for_duration
from bench.record import RunRecord
from bench.report.labels import money
from bench.report.quality import LABELS

# what makes two steps' budgets the same: the number of trials, the sampler, the search space and the metric
BUDGET_KEYS = ("budget", "sampler", "learning_rate_factors", "epoch_factors", "metric", "seed")


def trained_artifacts(run: RunRecord) -> list[tuple[dict, list[str]]]:
    """Each trained artifact's manifest once (a step shared by several variants), with the variants using it."""
    by_key: dict[str, tuple[dict, list[str]]] = {}
    for variant, build in run.builds.items():
        for m in build.get("manifests", []):
            if m.get("train"):
                by_key.setdefault(m["key"], (m, []))[1].append(variant)
    return list(by_key.values())


def tuned_steps(run: RunRecord) -> list[dict]:
    """One entry per trained artifact (a step shared by several variants once): step, used_by, its
    `tuning` record (None where it was trained once at its own settings) and the tuning's cost."""
    price = run.profile.get("price_usd_per_hour")
    out = []
    for m, used_by in trained_artifacts(run):
        tuning = m.get("tuning")
        out.append({"step": m["step"], "used_by": used_by, "tuning": tuning,
                    # every trial's training and scoring, on the machine this run measured
                    "cost_usd": usd_for_duration(price, tuning["wall_s"]) if tuning and price is not None else None,
                    "priced": price is not None})
    return out


def budget_sentence(steps: list[dict]) -> str | None:
    """Whether every trained step got the same tuning budget, in one sentence; None without training."""
    if not steps:
        return None
    tuned = [s for s in steps if s["tuning"]]
    if not tuned:
        return "Every trained step was trained once, at its own settings (the suite has no [tuning])."
    untuned = [s["step"] for s in steps if not s["tuning"]]
    budgets = {tuple(str(s["tuning"].get(k)) for k in BUDGET_KEYS) for s in tuned}
    t = tuned[0]["tuning"]
    names = ", ".join(s["step"] for s in tuned)
    if len(budgets) > 1 or untuned:
        return (f"The trained steps did NOT get the same budget: tuned {names}"
                + (f"; trained once: {', '.join(untuned)}" if untuned else "") + ".")
    factors = ", ".join(f"{f:g}" for f in t["learning_rate_factors"])
    epochs = ", ".join(f"{f:g}" for f in t["epoch_factors"])
    return (f"Every trained step ({names}) got the same budget: {t['budget']} trials ({t['sampler']}) over its own "
            f"learning rate x {factors} and its own epochs x {epochs}, each trained on the train split and scored on "
            f"the {t['split']} split by {LABELS.get(t['metric'], t['metric'])} ({t['direction']} is better); the chosen "
            "trial's model is the artifact, and the test figures in this report are of it alone.")


def trial_rows(steps: list[dict]) -> list[dict]:
    """One row per trial of every tuned step, with `chosen` set on the step's chosen trial."""
    rows = []
    for s in steps:
        t = s["tuning"]
        for trial in t["trials"] if t else []:
            rows.append({"step": s["step"], "used_by": ", ".join(s["used_by"]), "trial": trial["trial"] + 1,
                         "learning_rate": f"{trial['learning_rate']:.3g}", "epochs": f"{trial['epochs']:g}",
                         "value": "-" if trial["value"] is None else f"{trial['value']:.4f}",
                         "train_wall_s": f"{trial['train_wall_s']:.1f}", "chosen": trial["trial"] == t["chosen"],
                         "metric": LABELS.get(t["metric"], t["metric"])})
    return rows


def tuning_view(run: RunRecord) -> dict:
    steps = tuned_steps(run)
    return {"sentence": budget_sentence(steps), "rows": trial_rows(steps),
            "totals": [{"step": s["step"], "wall_s": s["tuning"]["wall_s"], "cost_usd": s["cost_usd"],
                        "priced": s["priced"]} for s in steps if s["tuning"]]}


def cost_text(total: dict) -> str:
    return f"{money(total, 'cost_usd', '.5f')} USD" if total["priced"] else money(total, "cost_usd", ".5f")


def tuning_markdown(view: dict) -> list[str]:
    """The report.md lines of the tuning section ([] where nothing was trained)."""
    if view["sentence"] is None:
        return []
    lines = ["", "## Tuning (validation split)", "", view["sentence"]]
    if view["rows"]:
        lines += ["", "| step | used by | trial | learning rate | epochs | validation figure | train s | chosen |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['step']} | {r['used_by']} | {r['trial']} | {r['learning_rate']} | {r['epochs']} | "
                  f"{r['metric']} {r['value']} | {r['train_wall_s']} | {'**chosen**' if r['chosen'] else ''} |"
                  for r in view["rows"]]
        lines += [""] + [f"- {t['step']}: all trials took {t['wall_s']:.0f} s ({cost_text(t)})"
                         for t in view["totals"]]
    return lines
