"""The decision card at the top of report.html and report.md: the recommendation, what it costs per month
and per 1M requests at the suite's slo.target_qps, its replicas with their range, its p99, its quality
against the full fine-tune and what it was measured on; or "not decided" and why.

Every figure comes from the run record through the helpers the capacity plan uses (bench.plan), so the card,
the plan table and `bench plan` agree. The recommendation is the cheapest feasible row of the fixed-length
plan; without a server scenario (or a target QPS) it is the offline recommendation (bench.report.rows.recommend).
"""

from __future__ import annotations

from bench.plan import capacity_at, replicas_for
from bench.report.capacity import capacity_of, served_cell
from bench.report.labels import NO_PRICE, has_price, machine_description, priced_as, profile_check
from bench.report.quality import (
    format_delta,
    format_interval,
    interval,
    paired_accuracy_interval,
    primary_metric,
    quality_by_variant,
    quality_floor,
    reference_variant,
    value,
)
from bench.report.rows import undecided_text
from bench.stats import no_better_than_majority

HOURS_PER_MONTH = 730.0  # the plan's default (bench plan --hours-per-month)


def _figure(key: str, label: str, shown: str, raw, note: str) -> dict:
    """One line of the card: `shown` as printed, `raw` the number it prints (checked against run.json)."""
    return {"key": key, "label": label, "value": shown, "raw": raw, "note": note}


def _replicas(n: int) -> str:
    return f"{n} replica" + ("" if n == 1 else "s")


def _usd(x: float | None, spec: str = ",.2f") -> str:
    return NO_PRICE if x is None else f"${x:{spec}}"


def decision_card(run, rec: dict, plans: list[dict]) -> dict:
    """{"status": "recommended" | "not decided" | "none", "variant", "setting", "figures": [_figure],
    "why" (None where recommended), "measured_on": {...}, "target_qps"}; `plans` from capacity.plans_by_traffic."""
    fixed = next((p for p in plans if p["traffic"] == "fixed"), plans[0] if plans else None)
    feasible = [r for r in fixed["rows"] if r.feasible] if fixed else []
    if feasible:
        card = _server_card(run, feasible[0], fixed, plans)
    elif rec["choice"] is not None:
        card = _offline_card(run, rec, fixed)
    else:
        why = rec.get("why_none") or "no cell was measured"
        card = {"status": "none", "variant": None, "setting": "", "figures": [],
                "why": f"No variant meets the p99 SLO and the quality floor: {why}."}
    floor, _ = quality_floor(run)
    why = _not_decided(run, rec, card["variant"], floor) if card["variant"] and floor else None
    if why:
        if feasible:
            why += _decided_alternative(run, plans, card["variant"], floor)
        card.update(status="not decided", why=why)
    elif card["variant"] and (poor := no_better_than_majority(quality_by_variant(run).get(card["variant"]))):
        card["why"] = f"Warning: {card['variant']}'s {poor}."
    return {**card, "measured_on": measured_on(run), "target_qps": run.suite["slo"].get("target_qps")}


def _decided_alternative(run, plans: list[dict], variant: str, floor) -> str:
    """Where the cheapest candidate is undecided: the cheapest served variant that the test split does show
    meeting the floor, with its cost per traffic model (" The cheapest decided choice: ..."), or ""."""
    parts, chosen = [], None
    for plan in plans:
        row = next((r for r in plan["rows"] if r.feasible and r.variant != variant
                    and (chosen is None or r.variant == chosen) and _variant_undecided(run, r.variant, floor) is None),
                   None)
        if row is None:
            continue
        chosen = row.variant
        cost = _usd(row.monthly_usd) if row.priced else NO_PRICE
        parts.append(f"{_replicas(row.replicas)}, {cost} per month under {plan['label']} traffic")
    return f" The cheapest decided choice: {chosen} ({'; '.join(parts)})." if chosen else ""


def _server_card(run, row, plan: dict, plans: list[dict]) -> dict:
    """The cheapest feasible plan row: its dollars at the target, replicas for the conservative and the
    typical capacity, the p99 measured at the planned load, its quality, and the real-traffic plan beside it."""
    cell = served_cell(run, row.variant, plan["traffic"])
    cap = capacity_of(cell) if cell else None
    typical = replicas_for(plan["qps"], cap["typical_qps"]) if cap else row.replicas
    found = capacity_at(cell.server, plan["p99_ms"]) if cell else None
    probe = found[2] if found else {"p99_ms": row.p99_upper_ms_at_capacity, "p99_upper_ms": row.p99_upper_ms_at_capacity}
    price = f"${row.price_usd_per_hour:g}/h" if row.priced else NO_PRICE
    rng = f"{row.replicas}" if typical == row.replicas else f"{row.replicas} (typical {typical})"
    if cap and cap["repetitions"] > 1:
        spread = (f" ({cap['conservative_rule']}); typical capacity {cap['typical_qps']:.1f} ({cap['typical_rule']}) "
                  f"needs {typical}")
    else:
        spread = "; one peak search, no spread measured"
    monthly = (f"{_replicas(row.replicas)} x {price} x {HOURS_PER_MONTH:g} h, at {plan['qps']:g} requests/s" if row.priced
               else f"{_replicas(row.replicas)} at {plan['qps']:g} requests/s; give --price-usd-per-hour for dollars")
    figures = [
        _figure("monthly_usd", "USD per month", _usd(row.monthly_usd), row.monthly_usd, monthly),
        _figure("usd_per_million", "USD per 1M requests", _usd(row.usd_per_million, ".4f"), row.usd_per_million,
                "replicas x price per hour / (requests/s x 3600) x 1e6"),
        _figure("replicas", "replicas", rng, row.replicas,
                f"planned at {row.capacity_qps:.1f} requests/s per replica{spread}"),
        _figure("p99_ms", "p99 per request", f"{probe['p99_ms']:.1f} ms", probe["p99_ms"],
                f"at {row.capacity_qps:.1f} requests/s, 99%-confidence bound {probe['p99_upper_ms']:.1f} ms; "
                f"SLO {plan['p99_ms']:g} ms"),
        _quality_figure(run, row.variant)]
    figures += _real_traffic_figure(plans, row.variant)
    setting = (f"max batch {row.max_batch_size}, queue delay {row.max_queue_delay_ms:g} ms; "
               f"{plan['label']} traffic")
    return {"status": "recommended", "variant": row.variant, "setting": setting, "figures": figures, "why": None}


def _real_traffic_figure(plans: list[dict], variant: str) -> list[dict]:
    """The variant's plan under real traffic (texts at their own length), where it was measured and feasible."""
    real = next((r for p in plans if p["traffic"] != "fixed" for r in p["rows"] if r.feasible and r.variant == variant), None)
    if real is None:
        return []
    return [_figure("real_traffic", "under real traffic", f"{_replicas(real.replicas)}, {_usd(real.monthly_usd)}",
                    real.replicas, f"{real.capacity_qps:.1f} requests/s per replica with texts at their own length "
                    "(the figures above are fixed-length)")]


def _offline_card(run, rec: dict, plan: dict | None) -> dict:
    """The offline recommendation: per 1M inferences at the cell's throughput; no monthly figure (that needs
    a measured capacity under load)."""
    c = rec["choice"]
    target = run.suite["slo"].get("target_qps")
    missing = ("no server-scenario capacity for it" if target else "the suite sets no slo.target_qps")
    if plan and not any(r.feasible for r in plan["rows"]):
        missing = "no served variant meets the SLO and the floor under load"
    figures = [
        _figure("monthly_usd", "USD per month", "not planned", None, f"{missing}: a monthly figure needs a "
                "measured capacity under load ([server] and slo.target_qps)"),
        _figure("usd_per_million", "USD per 1M inferences", _usd(c.get("usd_per_million"), ".4f") if has_price(run.profile)
                else NO_PRICE, c.get("usd_per_million"), f"offline, at {c['throughput_per_s']:.0f} samples/s: "
                "price per hour / (samples/s x 3600) x 1e6"),
        _figure("p99_ms", "p99 per batch", f"{c['p99_ms']:.1f} ms", c["p99_ms"],
                f"batch of {c['batch_size']} on an idle machine, no queueing; SLO {rec['p99_ms']:g} ms"),
        _quality_figure(run, c["variant"])]
    return {"status": "recommended", "variant": c["variant"], "figures": figures, "why": None,
            "setting": f"batch size {c['batch_size']}, sequence length {c['seq_len']}, {c['runtime']}"}


def _quality_figure(run, variant: str) -> dict:
    """The primary metric with its 95% interval, and its change against the reference, in its direction."""
    metric = primary_metric(run)
    qualities = quality_by_variant(run)
    ref = reference_variant(run)
    v, ci = value(qualities.get(variant), metric.name), interval(qualities.get(variant), metric.name)
    delta = format_delta(metric, v, value(qualities.get(ref), metric.name)) + (" points" if metric.name == "accuracy" else "")
    floor, _ = quality_floor(run)
    paired = paired_accuracy_interval(qualities.get(variant), qualities.get(floor.reference), floor) if floor else None
    note = (f"95% CI {format_interval(ci)}; {delta} vs {ref or 'full'} ({metric.better} is better)"
            + (f"; floor {floor.threshold:.4f}" if floor else "")
            # the floor is judged on the interval paired with the reference (same examples), which is narrower
            + (f", judged on the 95% CI paired with {floor.reference}: {format_interval(paired)}" if paired else ""))
    return _figure("quality", metric.label, f"{v:.4f}", v, note)


def _not_decided(run, rec: dict, variant: str, floor) -> str | None:
    """Why the test split cannot decide: the offline recommendation's reason, or the variant's own 95% interval
    (paired with the reference where it can be) containing the floor. None where it is decided."""
    if not rec["decided"]:
        return undecided_text(rec, run).replace("**", "").strip()
    return _variant_undecided(run, variant, floor)


def _variant_undecided(run, variant: str, floor) -> str | None:
    """Why the test split cannot tell whether `variant` meets the floor (its 95% interval, paired with the
    reference where it can be, contains it); None where it can."""
    qualities = quality_by_variant(run)
    paired = paired_accuracy_interval(qualities.get(variant), qualities.get(floor.reference), floor)
    ci = paired or interval(qualities.get(variant), floor.metric.name)
    if not floor.undecided(ci):
        return None
    return (f"Not decided: the test split cannot tell whether {variant} meets {floor.describe()}: its 95% "
            f"interval {format_interval(ci)} contains the floor. A larger test split narrows it.")


def measured_on(run) -> dict:
    """The machine measured (model, microarchitecture), the profile priced as with its price source, and the check."""
    machine = run.environment.get("machine") or {}
    return {"machine": machine_description(run), "microarchitecture": machine.get("microarchitecture") or "not recorded",
            "profile": priced_as(run.profile), "check": profile_check(run)["status"]}


def card_markdown(card: dict) -> list[str]:
    """The card as report.md opens: a headline and a two-column table (readable in a pull request)."""
    head = {"recommended": f"**Recommended: {card['variant']}** ({card['setting']})",
            "not decided": f"**Not decided** (the cheapest candidate: {card['variant']}, {card['setting']})",
            "none": "**No recommendation**"}[card["status"]]
    target = "" if not card["target_qps"] else (f" (target {card['target_qps']:g} requests/s)" if card["status"] == "none"
                                                else f" for {card['target_qps']:g} requests/s")
    lines = ["## Decision", "", head + target + ".", ""]
    if card["why"]:
        lines += [f"> {card['why']}", ""]
    m = card["measured_on"]
    lines += ["| | figure | how |", "|---|---|---|"]
    lines += [f"| {f['label']} | **{f['value']}** | {f['note']} |" for f in card["figures"]]
    lines += [f"| measured on | {m['machine']} | microarchitecture {m['microarchitecture']}; profile check: {m['check']} |",
              f"| priced as | {m['profile']} | |"]
    return lines
