"""Each served variant's capacity per replica with its spread (issue #20): the repeated peak searches of a
server cell, the conservative figure a plan is made with and the typical one, and the traffic served.

A record's server cell holds `server["capacity"]` = {"repetitions_qps": [...], "conservative_qps",
"typical_qps", "conservative_rule", "typical_rule", "repetitions"} and `server["traffic"]` = {"name":
"fixed" | "real", "description", "lengths"}; a real-traffic cell's id is `<variant>/server-real`. Records
written before repeated peaks have neither: they read as one repetition of fixed-length traffic whose
capacity is `server["best"]["max_qps"]`.
"""

from __future__ import annotations

from bench.traffic import LABELS as TRAFFIC_LABELS

FIXED_TRAFFIC = {"name": "fixed", "description": "every request padded to slo.seq_len", "lengths": None}


def traffic_of(cell) -> dict:
    """The cell's traffic model; fixed-length where the record predates traffic models."""
    recorded = (cell.server or {}).get("traffic")
    if recorded:
        return recorded
    return FIXED_TRAFFIC if cell.traffic in (None, "fixed") else {"name": cell.traffic, "description": None, "lengths": None}


def traffic_label(cell) -> str:
    """"fixed-length" or "real" (another name as recorded), as in "real traffic"."""
    name = traffic_of(cell)["name"]
    return TRAFFIC_LABELS.get(name, name)


def capacity_of(cell) -> dict | None:
    """The cell's capacity per replica in requests/s: `repetitions_qps` (each peak search's highest load
    within the SLO), `conservative_qps` (what plans use), `typical_qps`, their rules and `repetitions`
    (a count). None where the cell has no load within the SLO (or is not an ok server cell)."""
    server = cell.server or {}
    if cell.status != "ok" or not server:
        return None
    recorded = server.get("capacity")
    if recorded and recorded.get("conservative_qps"):
        reps = [float(q) for q in recorded.get("repetitions_qps") or [recorded["conservative_qps"]]]
        count = recorded.get("repetitions")
        count = len(count) if isinstance(count, list) else int(count or len(reps))
        return {"repetitions_qps": reps, "conservative_qps": float(recorded["conservative_qps"]),
                "typical_qps": float(recorded.get("typical_qps") or recorded["conservative_qps"]),
                "conservative_rule": recorded.get("conservative_rule") or "as recorded",
                "typical_rule": recorded.get("typical_rule") or "as recorded", "repetitions": count}
    best = server.get("best")
    if not best or not best.get("max_qps"):
        return None
    qps = float(best["max_qps"])
    return {"repetitions_qps": [qps], "conservative_qps": qps, "typical_qps": qps,
            "conservative_rule": "one peak search (recorded before repetitions)",
            "typical_rule": "one peak search (recorded before repetitions)", "repetitions": 1}


def spread_text(capacity: dict) -> str:
    """"436.8 (lowest of 3 repetitions), typical 540.0 (median of 3 repetitions), range 436.8-643.9 QPS"."""
    reps = capacity["repetitions_qps"]
    if capacity["repetitions"] <= 1:
        return f"{capacity['conservative_qps']:.1f} QPS, 1 repetition: no spread measured"
    return (f"{capacity['conservative_qps']:.1f} ({capacity['conservative_rule']}), typical "
            f"{capacity['typical_qps']:.1f} ({capacity['typical_rule']}), range {min(reps):.1f}-{max(reps):.1f} QPS")


def plans_by_traffic(run) -> list[dict]:
    """The capacity plan at the suite's slo.target_qps (bench.plan.make_plan, 730 h a month, no headroom),
    one per traffic model measured, fixed length first: {"traffic": name, "label", "qps", "p99_ms", "rows"}.
    Empty where the suite has no target_qps or no server cell."""
    from bench.plan import make_plan

    target, p99 = run.suite["slo"].get("target_qps"), run.suite["slo"]["p99_ms"]
    served = [c for c in run.cells if c.scenario == "server"]
    if not target or not served:
        return []
    names = sorted({traffic_of(c)["name"] for c in served}, key=lambda n: (n != "fixed", n))
    plans = []
    for name in names:
        cells = tuple(c for c in run.cells if c.scenario != "server" or traffic_of(c)["name"] == name)
        rows = make_plan([run.__class__(**{**run.__dict__, "cells": cells})], target, p99)
        plans.append({"traffic": name, "label": TRAFFIC_LABELS.get(name, name), "qps": target, "p99_ms": p99,
                      "rows": rows})
    return plans


def served_cell(run, variant: str, traffic: str = "fixed"):
    """The variant's ok server cell under `traffic`, or None."""
    return next((c for c in run.cells if c.scenario == "server" and c.variant == variant and c.status == "ok"
                 and traffic_of(c)["name"] == traffic), None)
