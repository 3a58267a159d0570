"""The same cells measured locally and through Ray on this machine: do they agree, and what does Ray add?

Starts a one-machine Ray cluster (`ray.cluster_utils.Cluster`: a head that measures nothing and one node
advertising the profile this machine matches, simulated only where none matches), then measures the
suite's offline cells alternately with the local executor and through the node, `--rounds` times each
(ABAB, so drift on the machine falls on both sides alike), with the artifacts built once. It prints, per
cell: the worker's p50 latency (ms) on each side with the ratio's 95% bootstrap interval (scipy.stats.
bootstrap over the per-round medians), and the cell's wall time on each side, whose difference is Ray's
overhead per cell (scheduling, shipping the artifact, the task's own start; the timed region is the same
worker process either way, so it is outside it).

Usage: `python benchmarks/ray_overhead.py [--suite smoke] [--only int8] [--rounds 3]` (needs `.[ray]`).
Figures are this machine's (the table names it); other load on the machine spoils both sides.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _cells(run_dir: Path) -> dict:
    from bench.record import load_run

    return {c.cell_id: c for c in load_run(run_dir).cells if c.scenario == "offline" and c.status == "ok"}


def _ratio_ci(ray_p50: list[float], local_p50: list[float]) -> tuple[float, float, float]:
    """Median ratio ray/local of the per-round p50s, with a 95% percentile-bootstrap interval."""
    import numpy as np
    from scipy.stats import bootstrap

    ratio = statistics.median(ray_p50) / statistics.median(local_p50)
    if len(ray_p50) < 2:
        return ratio, float("nan"), float("nan")
    res = bootstrap((np.array(ray_p50), np.array(local_p50)), lambda a, b: np.median(a) / np.median(b),
                    paired=False, vectorized=False, n_resamples=2000, method="percentile", random_state=0)
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _measure(args, out: Path, profile: str, simulated: bool) -> tuple[dict, dict]:
    from bench.fanout import run_fanout
    from bench.runner import run_suite
    from bench.runsetup import ProfileRequest

    quiet = Console(file=io.StringIO())
    local: dict[str, list] = {}
    remote: dict[str, list] = {}
    for r in range(args.rounds):
        local_dir, _ = run_suite(args.suite, profile=ProfileRequest(profile, allow_mismatch=simulated), out_root=out / f"local{r}",
                                 only=args.only, console=quiet)
        [(ray_dir, _)] = run_fanout(args.suite, [profile], out_root=out / f"ray{r}", only=args.only, console=quiet,
                                   allow_mismatch=simulated)
        for side, run_dir in ((local, local_dir), (remote, ray_dir)):
            for cid, cell in _cells(run_dir).items():
                side.setdefault(cid, []).append(cell)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    return local, remote


def _table(local: dict, remote: dict, machine: str) -> Table:
    t = Table(title=f"local vs Ray on one machine: {machine}")
    for col in ("cell", "p50 local ms", "p50 Ray ms", "Ray/local (95% CI)", "wall local s", "wall Ray s", "Ray overhead s"):
        t.add_column(col, justify="left" if col == "cell" else "right")
    for cid in sorted(local.keys() & remote.keys()):
        lp = [c.latency["summary"]["p50"] for c in local[cid]]
        rp = [c.latency["summary"]["p50"] for c in remote[cid]]
        lw, rw = statistics.median(c.wall_s for c in local[cid]), statistics.median(c.wall_s for c in remote[cid])
        ratio, low, high = _ratio_ci(rp, lp)
        t.add_row(cid, f"{statistics.median(lp):.2f}", f"{statistics.median(rp):.2f}", f"{ratio:.3f} ({low:.3f}-{high:.3f})",
                  f"{lw:.2f}", f"{rw:.2f}", f"{rw - lw:+.2f}")
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="smoke")
    parser.add_argument("--only", action="append", default=None, help="variants to measure (repeatable; default int8)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.only = args.only or ["int8"]

    import ray
    from ray.cluster_utils import Cluster

    from bench.config import list_files, load_profile
    from bench.executors.ray import SIMULATED_RESOURCE, profile_resource
    from bench.machine import detect
    from bench.profile_match import auto_profile

    machine = detect()
    hit = auto_profile(machine, [load_profile(str(p)) for p in list_files("profiles")])
    profile = hit.name if hit else "aws-c6a-large"  # no shipped profile is this machine: a simulated node plays one
    resources = {profile_resource(profile): 1, **({} if hit else {SIMULATED_RESOURCE: 1})}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    cluster.add_node(num_cpus=os.cpu_count(), resources=resources)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-overhead-") as tmp:
            local, remote = _measure(args, Path(tmp), profile, simulated=hit is None)
    finally:
        ray.shutdown()
        cluster.shutdown()
    where = f"{machine.describe()}, profile {profile}" + ("" if hit else " (simulated node)")
    Console(width=160).print(_table(local, remote, where))


if __name__ == "__main__":
    main()
