"""The `bench` command. Module-level imports stay light (no torch, no pandas), so --help is instant."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from bench.errors import EXIT_OK, BenchError

# No markup in help texts: rich mode reads "[gate]" and "bench[ray]" as style tags and drops them, markdown
# mode drops "<suite>"; plain help keeps every word.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Cost-performance profiler for fine-tuned transformer models: fine-tune, build variants, "
                       "measure accuracy, latency, throughput, memory and dollars, and report the Pareto frontier.")


def _console():
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough for the results table
        console = Console(stderr=True, width=170)
    return console


@app.command()
def run(suite: Annotated[str | None, typer.Argument(help="Suite name (in suites/) or path to a suite TOML file.")] = None,
        profile: Annotated[list[str] | None, typer.Option(help="Hardware profile name or path; auto: the shipped profile matching this machine, else 'local'; local: this machine at --price-usd-per-hour (or no price). Default: the suite's default_profile. Repeat it with --executor ray to measure on a node of each profile.")] = None,
        allow_profile_mismatch: Annotated[bool, typer.Option("--allow-profile-mismatch", help="Measure here although the machine is not what --profile stands for; every dollar figure then says 'measured on ..., priced as ...'.")] = False,
        price_usd_per_hour: Annotated[float | None, typer.Option(help="The price of this machine for the 'local' profile (--profile local or auto without a match), USD per hour.")] = None,
        out: Annotated[Path, typer.Option(help="Root folder for run directories.")] = Path("results"),
        only: Annotated[list[str] | None, typer.Option(help="Measure only these variants (repeatable).")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", help="Override a suite key, e.g. --set finetune.epochs=2 (repeatable).")] = None,
        resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run directory: measure only its missing cells.")] = None,
        executor: Annotated[str | None, typer.Option(help="local: this machine; ray: each --profile on a node of a Ray cluster that advertises it (pip install 'bench[ray]'; see `bench node`). Default: the suite's [cluster] executor, else local.")] = None,
        ray_address: Annotated[str | None, typer.Option(help="The Ray cluster to join (default: the suite's [cluster] ray_address, else RAY_ADDRESS, else the local head).")] = None,
        node_wait_s: Annotated[float | None, typer.Option(help="With --executor ray: how long to wait for a node of each profile before refusing (exit 2). Default: the suite's [cluster] node_wait_s (60).", min=0.0)] = None,
        artifact_store: Annotated[str | None, typer.Option(help="With --executor ray: a store every node reaches, file:///shared/path, s3://bucket/prefix or gs://bucket/prefix (fsspec; s3fs, gcsfs); artifacts go there once instead of through Ray's object store. Default: the suite's [cluster] artifact_store.")] = None):
    """Fine-tune, build each variant, measure every cell, and write a new run directory with its report
    (one per profile with --executor ray)."""
    if suite is None and resume is None:
        raise BenchError("name a SUITE (see `bench suites`) or give --resume RUN_DIR")
    if resume is None and out.exists() and not out.is_dir():
        raise BenchError(f"--out {out}: is a file, not a folder; give a folder for the run directories")
    where = _where(suite if resume is None else None, set_, profile or [], executor, ray_address, node_wait_s,
                   artifact_store)
    console = _console()
    results = _run_suite_or_fanout(suite, where, console, out=out, only=only,
                                   overrides=set_, resume=resume, allow_mismatch=allow_profile_mismatch,
                                   price_usd_per_hour=price_usd_per_hour)
    for run_dir, _ in results:
        _write_and_show(run_dir, console)
    _show_profiles([d for d, _ in results], console)
    code = max(c for _, c in results)
    if code != EXIT_OK:
        console.print("[red]finished with failed cells (exit code 3); see 'Not measured' in the report")
    raise typer.Exit(code)


class Where(NamedTuple):
    """Where `bench run` measures: profiles, executor, the Ray address, the node wait (s), the store URI."""

    profiles: list[str]
    executor: str
    address: str | None
    node_wait_s: float
    artifact_store: str | None


def _where(suite_ref: str | None, overrides, profiles: list[str], executor: str | None, address: str | None,
           node_wait_s: float | None, artifact_store: str | None = None) -> Where:
    """The command line's flags, each over the suite's [cluster] table (bench.config.Cluster), over its
    defaults. BenchError (exit 2) for an unknown executor or several profiles on one machine."""
    from bench.config import Cluster, read_suite

    cluster = read_suite(suite_ref, overrides)[0].cluster if suite_ref else Cluster()
    profiles = profiles or list(cluster.profiles)
    executor = executor or cluster.executor
    if executor not in ("local", "ray"):
        raise BenchError(f"--executor {executor!r}: expected local or ray")
    if len(profiles) > 1 and executor != "ray":
        raise BenchError("several --profile need --executor ray (a node of each profile); one machine is one profile")
    store = artifact_store or cluster.artifact_store
    if store and executor != "ray":
        raise BenchError(f"--artifact-store {store}: a shared artifact store is for --executor ray (a local run "
                         "reads its own cache)")
    return Where(profiles, executor, address or cluster.ray_address,
                 cluster.node_wait_s if node_wait_s is None else node_wait_s, store)


def _run_suite_or_fanout(suite, where: Where, console, *, out, only, overrides, resume, allow_mismatch,
                         price_usd_per_hour) -> list[tuple[Path, int]]:
    """A local run, a fan-out over a Ray cluster, or the resume of either (a run directory says which)."""
    from bench.runner import ProfileRequest, run_suite

    profiles, executor, address, node_wait_s, store = where
    if resume is not None:
        from bench.fanout import is_cluster_run, resume_fanout
        from bench.record import load_run

        if (resume / "run.json").is_file() and is_cluster_run(load_run(resume)):
            if suite or profiles or overrides:
                raise BenchError("--resume takes the suite, profile and settings from the run; give no SUITE, "
                                 "--profile or --set with it")
            return [resume_fanout(resume, load_run(resume), address=address, only=only, console=console,
                                  node_wait_s=node_wait_s, artifact_store=store)]
    if executor == "ray" and resume is None:
        from bench.fanout import run_fanout

        if not profiles:
            raise BenchError("--executor ray: name the profiles to measure, e.g. --profile aws-c6a-large "
                             "--profile aws-c7a-large")
        return run_fanout(suite, profiles, address=address, out_root=out, only=only, overrides=overrides,
                          allow_mismatch=allow_mismatch, console=console, node_wait_s=node_wait_s,
                          artifact_store=store)
    if price_usd_per_hour is not None and not (math.isfinite(price_usd_per_hour) and price_usd_per_hour > 0):
        raise BenchError(f"--price-usd-per-hour {price_usd_per_hour!r}: expected a positive price in USD per hour, "
                         "e.g. 0.0765")
    request = ProfileRequest(profiles[0] if profiles else None, allow_mismatch, price_usd_per_hour)
    return [run_suite(suite, profile=request, out_root=out, only=only, overrides=overrides, resume=resume,
                      console=console)]


def _write_and_show(run_dir: Path, console) -> None:
    from bench.report.render import write_report
    from bench.report.terminal import print_summary

    paths = write_report(run_dir)
    print_summary(run_dir, console)
    console.print(f"\nreport: [bold]{paths['html']}[/]\n        {paths['md']}\n        {paths['csv']}", soft_wrap=True)


@app.command()
def node(profile: Annotated[str, typer.Option(help="The profile this machine stands for (name or path).")],
         address: Annotated[str | None, typer.Option(help="The Ray head to join, host:port (default: start a head here).")] = None,
         simulated: Annotated[bool, typer.Option(help="Advertise the profile without being its hardware (tests, demos): the check is relaxed and every run on it labelled so.")] = False,
         dry_run: Annotated[bool, typer.Option(help="Check and print the `ray start` command; do not run it.")] = False):
    """Start a Ray node that advertises PROFILE, after checking this machine is what the profile stands
    for (exit 2 naming both sides if not). One cell runs on it at a time."""
    import shlex
    import subprocess

    from bench.config import load_profile
    from bench.executors.ray import ray_start_command
    from bench.machine import detect

    console = _console()
    command = ray_start_command(load_profile(profile), detect(), address=address, simulated=simulated)
    console.print(shlex.join(command), soft_wrap=True, markup=False)
    if not dry_run:
        raise typer.Exit(subprocess.run(command).returncode)


@app.command()
def report(run_dirs: Annotated[list[Path], typer.Argument(help="Run directories written by `bench run` (one, or the profiles of a fan-out: one of them finds the others).")]):
    """Re-render report.md, report.html and cells.csv from the run's stored records alone; for the runs
    of a fan-out (or several given), their profiles side by side, cheapest first."""
    from bench.record import load_run
    from bench.report.render import write_report
    from bench.report.terminal import print_summary

    console = _console()
    run_dirs = [d.parent if d.name == "run.json" and d.is_file() else d for d in run_dirs]  # a run's run.json: its run
    for run_dir in run_dirs:
        if not (run := load_run(run_dir)).cells:
            raise BenchError(f"{run_dir}: no cell was measured (the run is {run.status}): nothing to report; "
                             f"finish it with `bench run --resume {run_dir}`")
        paths = write_report(run_dir)
        print_summary(run_dir, console)
        console.print(f"\nreport: [bold]{paths['html']}[/]", soft_wrap=True)
    _show_profiles(run_dirs, console)


def _show_profiles(run_dirs: list[Path], console) -> None:
    """The profiles side by side (bench/report/profiles.py) where the runs are of several profiles."""
    from bench.record import load_run
    from bench.report.profiles import fanout_run_dirs, print_profiles, profile_rows

    dirs = list(dict.fromkeys(d for given in run_dirs for d in fanout_run_dirs(given)))
    runs = [load_run(d) for d in dirs]
    if len({r.profile["name"] for r in runs}) > 1:
        print_profiles(profile_rows(runs), console)


@app.command()
def plan(run_dirs: Annotated[list[Path], typer.Argument(help="Run directories with server-scenario results (several machines combine).")],
         qps: Annotated[float, typer.Option(help="Requests per second to serve.")],
         p99_ms: Annotated[float, typer.Option(help="p99 latency per request to meet, ms (queueing included).")],
         headroom: Annotated[float, typer.Option(help="Fraction of each replica's measured capacity kept free, 0-0.9.")] = 0.0,
         hours_per_month: Annotated[float, typer.Option(help="Hours billed per month.")] = 730.0,
         out: Annotated[Path, typer.Option(help="Folder for plan.md and plan.json (written over if there).")] = Path("plan"),
         verify: Annotated[bool, typer.Option(help="Serve the cheapest plan's variant at its per-replica load here and check the p99.")] = False):
    """Replicas, monthly cost and cost per 1M requests for a traffic and a p99, per variant and profile."""
    import json

    from bench.plan import make_plan, plan_markdown
    from bench.record import load_run, write_atomic
    from bench.report.plan_terminal import print_plan

    if not 0 <= headroom <= 0.9:
        raise BenchError(f"--headroom {headroom:g}: expected a fraction between 0 and 0.9, e.g. 0.2")
    for flag, value in (("--qps", qps), ("--p99-ms", p99_ms), ("--hours-per-month", hours_per_month)):
        if not 0 < value < math.inf:
            raise BenchError(f"{flag} {value:g}: expected a finite number > 0")
    if hours_per_month > 744:
        raise BenchError(f"--hours-per-month {hours_per_month:g}: a month has at most 744 hours (31 x 24)")
    console = _console()
    runs = [load_run(d) for d in run_dirs]
    if not any(c.scenario == "server" for r in runs for c in r.cells):
        raise BenchError("none of these runs has server-scenario results; add a [server] table to the suite "
                         "(see suites/default.toml) and run it again")
    rows = make_plan(runs, qps, p99_ms, headroom=headroom, hours_per_month=hours_per_month,
                     sources=[str(d) for d in run_dirs])
    print_plan(rows, qps, p99_ms, headroom, console)
    replaced = (out / "plan.json").is_file()
    out.mkdir(parents=True, exist_ok=True)
    document = {"qps": qps, "p99_ms": p99_ms, "headroom": headroom, "hours_per_month": hours_per_month,
                "runs": [str(d) for d in run_dirs], "pricing_labels": sorted({r.pricing_label for r in rows if r.pricing_label}),
                "rows": [r.to_dict() for r in rows]}
    if verify:
        document["verification"] = _verify_cheapest(runs, run_dirs, rows, qps, p99_ms, out, console)
    write_atomic(out / "plan.json", json.dumps(document, indent=1))
    write_atomic(out / "plan.md", plan_markdown(rows, qps, p99_ms, headroom, hours_per_month))
    console.print(f"plan: {out / 'plan.md'}, {out / 'plan.json'}" + (" (the previous plan there replaced)" if replaced else ""))
    if verify and document["verification"]["status"] != "met":
        raise typer.Exit(1)


def _verify_cheapest(runs, run_dirs, rows, qps: float, p99_ms: float, out: Path, console) -> dict:
    """--verify: serve the top feasible row's variant at one replica's share of `qps` here, and print it."""
    from bench.plan import traffic_label
    from bench.report.plan_terminal import print_verification
    from bench.verify import verify_row

    top = next((r for r in rows if r.feasible), None)
    if top is None:
        raise BenchError("--verify: no feasible plan to verify")
    i = next(i for i, r in enumerate(runs) if r.run_id == top.run_id)
    per_replica = qps / top.replicas
    console.print(f"verifying: {top.variant} ({traffic_label(top)} traffic) at {per_replica:.1f} requests/s (one "
                  f"replica's share at its conservative capacity, {top.capacity_rule or 'one repetition'}) ...")
    verification = verify_row(runs[i], run_dirs[i], top, per_replica, p99_ms, out / "logs")
    print_verification(verification, per_replica, p99_ms, console)
    return verification


def _fraction(text: str, name: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BenchError(f"{name} {text!r}: expected a percentage like 5% or a fraction like 0.05") from None
    if not text.endswith("%") and value >= 1:  # "5" is 5% or 500%: ask rather than guess
        raise BenchError(f"{name} {text!r}: ambiguous; write {text}% for a percentage or a fraction below 1 "
                         f"(e.g. {value / 100:g})")
    if not 0 <= value < 10:
        raise BenchError(f"{name} {text!r}: out of range; expected 0% to 1000%")
    return value


@app.command()
def compare(baseline: Annotated[Path, typer.Argument(help="Baseline: a run directory or a file written by `bench baseline`.")],
            new: Annotated[Path, typer.Argument(help="The new measurement: a run directory or a baseline file.")],
            max_slowdown: Annotated[str | None, typer.Option(help="Minimum effect on latency, throughput and cost, e.g. 5%. Default: the suite's [gate], else 5%.")] = None,
            max_memory_growth: Annotated[str | None, typer.Option(help="Allowed growth of peak memory, e.g. 10%. Default: the suite's [gate], else 10%.")] = None,
            accuracy_tolerance: Annotated[float | None, typer.Option(help="Allowed drop of accuracy (and of any 0-1 primary metric: PR-AUC, F1, Spearman...), in points. Default: the suite's [gate], else 0.5.")] = None,
            error_tolerance: Annotated[str | None, typer.Option(help="Smallest relative change of RMSE or MAE that counts, e.g. 2%. Default: the suite's [gate], else 2%.")] = None,
            alpha: Annotated[float | None, typer.Option(help="Significance level. Default: the suite's [gate], else 0.01.")] = None,
            correction: Annotated[str | None, typer.Option(help="holm: alpha holds for the whole comparison (Holm-Bonferroni over all tests); none: alpha per test. Default: the suite's [gate], else holm.")] = None,
            allow_different_env: Annotated[bool, typer.Option(help="Compare runs from different hardware or library versions.")] = False,
            out: Annotated[Path, typer.Option(help="Folder for compare.md and compare.json.")] = Path("compare")):
    """Verdict per cell and metric: improved, same, regressed or inconclusive. Exit 0: no regression;
    1: a regression; 2: the two cannot be compared (different suites, missing cells, different machines)."""
    import json

    from bench import compare as cmp
    from bench.record import write_atomic

    base_snap, new_snap = cmp.load_snapshot(baseline), cmp.load_snapshot(new)
    gate = cmp.gate_for(new_snap, source=str(new), overrides={
        "max_slowdown": _fraction(max_slowdown, "--max-slowdown") if max_slowdown else None,
        "max_memory_growth": _fraction(max_memory_growth, "--max-memory-growth") if max_memory_growth else None,
        "accuracy_tolerance_points": accuracy_tolerance, "alpha": alpha, "correction": correction,
        "error_tolerance": _fraction(error_tolerance, "--error-tolerance") if error_tolerance else None})
    result = cmp.compare(base_snap, new_snap, gate, allow_different_env)
    console = _console()
    _print_comparison(console, result)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.md", cmp.markdown(result))
    write_atomic(out / "compare.json", json.dumps(result.to_dict(str(baseline), str(new)), indent=1))
    verdict = {0: "[green]no regression", 1: "[red]regression", 2: "[red]unusable comparison"}[result.exit_code]
    console.print(f"{verdict}[/] (exit {result.exit_code}); {out / 'compare.md'}")
    raise typer.Exit(result.exit_code)


def _print_comparison(console, result) -> None:
    """The terminal form of compare.md: one coloured table row per cell and metric, changes first, then
    the problems, environment differences and notes."""
    from rich.table import Table

    from bench.report.compare_md import changes_first, pricing_lines, row_cells

    table = Table(title=f"bench compare: {result.base['run_id']} -> {result.new['run_id']} (changes first)")
    for h in ("cell", "metric", "baseline", "new", "change", "p", "detects (95%)", "verdict"):
        table.add_column(h, justify="left" if h in ("cell", "metric", "verdict") else "right")
    colour = {"regressed": "red", "improved": "green", "inconclusive": "yellow", "same": "dim"}
    for c in changes_first(result.changes):
        cells = row_cells(c)
        table.add_row(*cells[:7], cells[8], style=colour[c.verdict])  # no test column: too wide for a terminal
    console.print(table)
    for line in pricing_lines(result):
        console.print(f"[bold red]priced as another machine:[/] {line}", soft_wrap=True)
    for p in result.problems:
        console.print(f"[red]problem:[/] {p}")
    for d in result.differences:
        console.print(f"[yellow]environment differs:[/] {d}")
    for n in result.notes:
        console.print(f"[yellow]environment note:[/] {n}", soft_wrap=True)


@app.command()
def baseline(run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
             out: Annotated[Path | None, typer.Option(help="Default: results/baselines/<suite>-<profile>.json.gz")] = None):
    """Write a compact, committable baseline (summaries, raw samples, per-example correctness; gzip JSON)."""
    from bench.compare import write_baseline
    from bench.record import load_run

    run = load_run(run_dir)
    if run.status != "finished":
        raise BenchError(f"{run_dir}: the run is {run.status}; a baseline needs a finished run")
    out = out or Path("results") / "baselines" / f"{run.suite_name}-{run.profile['name']}.json.gz"
    path = write_baseline(run_dir, out)
    typer.echo(f"baseline: {path} ({path.stat().st_size / 1024:.1f} KiB) from {run.run_id}")


@app.command()
def history(suite: Annotated[str, typer.Argument(help="Suite name: runs are read from ROOT/SUITE/*/run.json.")],
            profile: Annotated[str | None, typer.Option(help="Only runs on this profile.")] = None,
            root: Annotated[Path, typer.Option(help="Root folder of run directories.")] = Path("results")):
    """Each metric's trend across stored runs, with change points (E-divisive means) flagged."""
    from rich.table import Table

    from bench.history import load_series, summarize_series

    series, runs = load_series(root / suite, profile)
    if len(runs) < 2:
        raise BenchError(f"{root / suite}: {len(runs)} finished run(s)" + (f" on profile {profile}" if profile else "")
                         + "; history needs at least two")
    console = _console()
    table = Table(title=f"{suite}: {len(runs)} runs from {runs[0]} to {runs[-1]}" + (f" on {profile}" if profile else ""))
    for h in ("cell", "metric", "runs", "first", "last", "trend", "change points"):
        table.add_column(h, justify="left" if h in ("cell", "metric", "trend", "change points") else "right")
    for row in summarize_series(series, runs):
        table.add_row(row["cell"], row["metric"], str(row["n"]), f"{row['first']:.4g}", f"{row['last']:.4g}",
                      row["sparkline"], row["change_text"], style="bold yellow" if row["change_points"] else None)
    console.print(table)


@app.command()
def suites():
    """List the suites bench can find, one line each."""
    from bench.config import list_files, read_toml

    for path in list_files("suites"):
        raw = read_toml(path)
        typer.echo(f"{path.stem:16} {raw.get('description', '')}  [{path}]")


@app.command()
def profiles():
    """List the hardware profiles, one line each, with price and source."""
    from bench.config import list_files, load_profile

    for path in list_files("profiles"):
        p = load_profile(str(path))
        price = f"${p.price_usd_per_hour:>8.4f}/h" if p.price_usd_per_hour is not None else f"{'no price':>11}"
        typer.echo(f"{p.name:22} {p.device:5} {price}  {p.instance:22} {p.description}")


def main() -> None:
    try:
        # Without standalone mode click *returns* exit codes (typer.Exit, and 130 for Ctrl-C) instead of exiting.
        code = app(standalone_mode=False)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        # by name: typer >= 0.2x raises its vendored click's classes (typer._click), older ones click's
        kinds = {cls.__name__ for cls in type(e).__mro__}
        if "Abort" in kinds:  # click's form of KeyboardInterrupt
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        if "ClickException" in kinds:  # a usage error: a missing argument, an unknown option, a bad value
            e.show()
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
