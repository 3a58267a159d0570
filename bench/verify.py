"""`bench plan --verify`: serve the plan's cheapest variant at the per-replica load the plan assumes, on
this machine, in a fresh worker. The measuring side of the plan (bench/plan.py only reads records)."""

from __future__ import annotations

from bench.plan import PlanRow
from bench.record import RunRecord


def verify_row(run: RunRecord, run_dir, row: PlanRow, qps_per_replica: float, p99_ms: float, log_dir) -> dict:
    """Serve `row`'s variant (its traffic model too) at the per-replica load the plan assumes, in a fresh
    worker on this machine, and say whether its p99 per request (and its 99%-confidence bound) is within
    `p99_ms`. The plan sized `row` on its conservative capacity, so this checks that one."""
    from pathlib import Path

    from bench import launcher
    from bench.config import Suite
    from bench.jobfactory import stored_cell_job
    from bench.jobspec import ServerSettings

    suite = Suite.model_validate(run.suite)
    build = run.builds.get(row.variant) or {}
    if build.get("status") != "ok" or not Path(build.get("artifact_dir", "")).is_dir():
        return {"status": "not run", "reason": f"the artifact of {row.variant} is not on this machine"}
    # longer than a bisection probe: 2,000 requests bound the p99 by about the 99.5th percentile, where
    # 500 must bound it by their maximum, so one stray request would decide the verdict
    settings = ServerSettings.from_dict({**suite.server.model_dump(), "max_batch_sizes": [row.max_batch_size],
                                         "max_queue_delay_ms": [row.max_queue_delay_ms],
                                         "min_queries": max(2000, suite.server.min_queries)})
    job = stored_cell_job(run, Path(run_dir), run.cell(row.cell_id or f"{row.variant}/server"), seed=suite.task.seed + 1,
                          slo_p99_ms=p99_ms, server=settings, fixed_qps=qps_per_replica)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    outcome = launcher.run_job(job, Path(log_dir) / f"verify-{row.variant}{'' if row.traffic == 'fixed' else '-' + row.traffic}.log", suite.measure.cell_timeout_s)
    if outcome.status != "ok":
        return {"status": outcome.status, "reason": outcome.reason}
    probe = outcome.result.server["settings"][0]["probes"][0]
    return {"status": "met" if probe["passed"] else "missed", "qps": qps_per_replica, "probe": probe}
