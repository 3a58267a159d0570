"""The regression gate's error rates, measured from real repeated measurements on this machine.

Re-measures every offline cell of a finished gate run in R fresh worker processes, round-robin across
cells (so machine drift over minutes falls between processes, as it does between CI runs). Then
consecutive blocks of k processes form simulated runs (k = the suite's `measure.processes`, as
`bench run` would measure them), and:
- A/A: every pair of simulated runs is compared with `bench compare`'s statistics, all cells at once
  (so its multiple-comparison correction sees the gate's whole family of tests); a `regressed` verdict
  there is a false alarm. Rates per comparison and per whole gate.
- Injected slowdown: the newer run's samples are scaled by (1 + slowdown), in one cell at a time (the
  share found, per cell and per metric) and in every cell at once (the share of gates that fail).
With k = 1 the same samples show the pooled-sample tests (one process per cell per run).

    python benchmarks/gate_calibration.py [--run-dir results/gate/...] [--repeats 30] [--per-run 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from remeasure import remeasure

from bench import compare as cmp
from bench.config import Gate
from bench.record import load_run

METRICS = ("p50_ms", "p99_ms", "throughput_per_s")


def newest_gate_run() -> Path:
    runs = sorted(Path("results/gate").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        sys.exit("no finished gate run under results/gate: run `bench run gate` first")
    return runs[-1].parent


def remeasure_gate(run_dir: Path, repeats: int, log_dir: Path) -> dict[str, list[dict]]:
    run = load_run(run_dir)
    cells = [c for c in run.cells if c.scenario == "offline" and c.status == "ok"]
    out: dict[str, list[dict]] = {c.cell_id: [] for c in cells}

    def keep(r: int, c, result) -> None:
        samples = list(result.samples_ms)
        out[c.cell_id].append({"scenario": "offline", "batch_size": c.batch_size, "seq_len": c.seq_len,
                               "status": "ok", "samples_ms": samples,
                               "reference_ms": list(result.reference_ms) if result.reference_ms is not None else None})
        print(f"repeat {r + 1}/{repeats} {c.cell_id}: median {sorted(samples)[len(samples) // 2]:.2f} ms, "
              f"{len(samples)} samples", flush=True)

    remeasure(run, run_dir, cells, repeats, log_dir, keep)
    return out


def simulated_runs(measured: dict[str, list[dict]], per_run: int) -> dict[str, list[dict]]:
    """Consecutive blocks of `per_run` processes of each cell, joined the way results.pooled_latency joins
    a cell measured in several processes."""
    out = {}
    for cell, reps in measured.items():
        runs = []
        for i in range(0, len(reps) - per_run + 1, per_run):
            block = reps[i:i + per_run]
            refs = [x for r in block for x in r.get("reference_ms") or []]
            runs.append({**block[0], "samples_ms": [x for r in block for x in r["samples_ms"]],
                         "reference_ms": refs if all(r.get("reference_ms") for r in block) else None,
                         "process_sample_counts": [len(r["samples_ms"]) for r in block] if per_run > 1 else None})
        out[cell] = runs
    return out


def random_split_runs(measured: dict[str, list[dict]], per_run: int, draws: int, seed: int = 0):
    """`draws` pairs of simulated runs per cell, each pair two disjoint random sets of `per_run` processes.
    Optimistic next to consecutive blocks: it mixes processes from the whole session, so slow drift
    between CI runs is averaged away. Returns (runs, pairs) for `rates`."""
    import random

    rng = random.Random(seed)
    out = {cell: [] for cell in measured}
    for _ in range(draws):
        for cell, reps in measured.items():
            chosen = rng.sample(range(len(reps)), 2 * per_run)
            for half in (chosen[:per_run], sorted(chosen[per_run:])):
                out[cell] += simulated_runs({cell: [reps[k] for k in sorted(half)]}, per_run)[cell]
    return out, [(2 * d, 2 * d + 1) for d in range(draws)]


def _gate(runs: dict[str, list[dict]], i: int, j: int, t: Gate, slowed: set[str],
          slowdown: float) -> list[cmp.MetricChange]:
    """What `bench compare` decides for simulated run i (baseline) vs j (new), with the cells in `slowed`
    slowed by `slowdown` on the new side (the injected slowdown is in the code under test: its latency
    grows, the machine's reference workload does not). All cells together, so the multiple-comparison
    correction sees the gate's whole family of tests, as compare_snapshots does."""
    family = 3 * len(runs) if t.correction == "holm" else 1
    changes = []
    for cell, reps in runs.items():
        b = reps[j]
        if cell in slowed:
            b = {**b, "samples_ms": [x * (1 + slowdown) for x in b["samples_ms"]]}
        changes += [c for c in cmp.compare_offline(cell, reps[i], b, t, family) if c.metric in METRICS]
    return cmp.correct_for_multiplicity(changes, t)


def rates(measured: dict[str, list[dict]], t: Gate, slowdown: float, pairs=None) -> dict:
    """A/A false alarms (per comparison and per whole gate); detection of `slowdown` in one cell at a
    time (per cell, and per metric), and in every cell at once (whole gate)."""
    repeats = len(next(iter(measured.values())))
    cells = list(measured)
    aa = {m: [0, 0] for m in METRICS}  # [regressed, comparisons]
    detect = {m: [0, 0] for m in METRICS}
    found_in_cell = {c: 0 for c in cells}
    gate_alarms = gate_detections = gate_pairs = 0
    for i, j in pairs or itertools.combinations(range(repeats), 2):
        gate_pairs += 1
        same = _gate(measured, i, j, t, set(), slowdown)
        for ch in same:
            aa[ch.metric][0] += ch.verdict == "regressed"
            aa[ch.metric][1] += 1
        gate_alarms += any(ch.verdict == "regressed" for ch in same)
        gate_detections += any(ch.verdict == "regressed" for ch in _gate(measured, i, j, t, set(cells), slowdown))
        for cell in cells:
            mine = [ch for ch in _gate(measured, i, j, t, {cell}, slowdown) if ch.cell_id == cell]
            for ch in mine:
                detect[ch.metric][0] += ch.verdict == "regressed"
                detect[ch.metric][1] += 1
            found_in_cell[cell] += any(ch.verdict == "regressed" and ch.metric in ("p50_ms", "throughput_per_s")
                                       for ch in mine)
    return {"false_alarm_per_comparison": {m: aa[m][0] / aa[m][1] for m in METRICS},
            "detection_per_comparison": {m: detect[m][0] / detect[m][1] for m in METRICS},
            "one_cell_found": {c: n / gate_pairs for c, n in found_in_cell.items()},
            "comparisons_per_metric": aa[METRICS[0]][1], "gate_pairs": gate_pairs,
            "gate_false_alarm_rate": gate_alarms / gate_pairs, "gate_detection_rate": gate_detections / gate_pairs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=30, help="fresh processes per cell (R)")
    ap.add_argument("--per-run", type=int, default=None,
                    help="processes per simulated run (k); default: the gate run's measure.processes")
    ap.add_argument("--slowdown", type=float, default=0.10)
    ap.add_argument("--max-slowdown", type=float, default=Gate().max_slowdown)
    ap.add_argument("--alpha", type=float, default=Gate().alpha)
    ap.add_argument("--correction", choices=("holm", "none"), default=Gate().correction)
    ap.add_argument("--samples", type=Path, default=None, help="reuse repeats saved by an earlier call (JSON)")
    ap.add_argument("--save", type=Path, default=Path("results/gate-calibration.json"))
    ap.add_argument("--random-splits", type=int, default=0, metavar="N",
                    help="instead of consecutive blocks, N pairs of disjoint random sets of k processes (optimistic)")
    ap.add_argument("--raw", action="store_true", help="ignore the reference workload (no drift correction)")
    args = ap.parse_args()
    if args.samples:
        saved = json.loads(args.samples.read_text())
        measured, per_run = saved["measured"], args.per_run or saved.get("per_run") or 1
    else:
        run_dir = args.run_dir or newest_gate_run()
        per_run = args.per_run or load_run(run_dir).suite["measure"].get("processes", 1)
        with tempfile.TemporaryDirectory() as logs:
            measured = remeasure_gate(run_dir, args.repeats, Path(logs))
    if args.raw:
        measured = {k: [{**r, "reference_ms": None} for r in v] for k, v in measured.items()}
    t = Gate(max_slowdown=args.max_slowdown, alpha=args.alpha, correction=args.correction)
    if args.random_splits:
        runs, pairs = random_split_runs(measured, per_run, args.random_splits)
        result = rates(runs, t, args.slowdown, pairs)
    else:
        result = rates(simulated_runs(measured, per_run), t, args.slowdown)
    args.save.parent.mkdir(parents=True, exist_ok=True)
    args.save.write_text(json.dumps({"thresholds": t.model_dump(), "slowdown": args.slowdown, "per_run": per_run,
                                     "result": result, "measured": measured}))
    print(f"\ngate thresholds: min effect {t.max_slowdown:.0%}, alpha {t.alpha:g} "
          f"({'whole gate, Holm' if t.correction == 'holm' else 'per test'}); injected slowdown {args.slowdown:.0%}; "
          + ("raw latencies" if args.raw else "drift-corrected by the reference workload"))
    print(f"{len(measured)} cells x {len(next(iter(measured.values())))} processes, {per_run} per simulated run"
          + (f" ({args.random_splits} random splits)" if args.random_splits else " (consecutive blocks)") + "; "
          f"{result['comparisons_per_metric']} A/A comparisons per metric")
    for m in METRICS:
        print(f"  {m:18} false alarms {result['false_alarm_per_comparison'][m]:6.1%}   "
              f"one cell +{args.slowdown:.0%} found {result['detection_per_comparison'][m]:6.1%}")
    print(f"  one cell +{args.slowdown:.0%}, found (p50 or throughput regressed), per cell:")
    for cell, rate in result["one_cell_found"].items():
        print(f"    {cell:36} {rate:6.1%}")
    print(f"  whole gate (any cell regressed): false alarms {result['gate_false_alarm_rate']:.1%} of "
          f"{result['gate_pairs']} A/A pairs; every cell +{args.slowdown:.0%} fails it {result['gate_detection_rate']:.1%}")
    print(f"saved: {args.save}")


if __name__ == "__main__":
    main()
