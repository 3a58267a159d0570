"""The parent that runs a suite: plan the cells, build artifacts and measure cells through an executor,
and write every finished cell to run.json at once. It never loads a model itself.

The parts live beside it: runsetup (run directory, start, resume), artifact_chain (cache keys, build),
scheduler (rounds, partial/, resume), cells (record assembly and terminal lines), jobfactory (jobs).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import jobfactory
from bench.artifact_chain import build_chain
from bench.cells import Machine, cell_record, echo_line, not_built_records
from bench.config import Profile, Suite, Variant
from bench.data import TaskData
from bench.errors import EXIT_FAILED_CELLS, EXIT_OK, BenchError
from bench.executors.base import Executor, Outcome
from bench.executors.local import LocalExecutor
from bench.record import CellRecord, RunRecord, cell_id, save_run
from bench.runsetup import ProfileRequest, RunSetup, resolve_threads, resume_run, start_run, utc_now
from bench.scenarios import SCENARIOS, PlannedCell
from bench.scheduler import PendingCell, Scheduler, run_in_threads

__all__ = ["ProfileRequest", "RunContext", "make_context", "measure_all", "run_contexts", "run_suite"]


@dataclass
class RunContext:
    suite: Suite
    profile: Profile
    run_dir: Path
    data: TaskData
    base_model_dir: Path
    base_model_hash: str
    threads: int
    console: Console
    progress: Progress
    record: RunRecord
    executor: Executor  # measures the cells
    build_executor: Executor = dataclasses.field(default_factory=LocalExecutor)  # builds the artifacts, once
    label: str = ""  # a fan-out run's profile: prefixes this run's lines on the shared terminal
    variants: tuple[Variant, ...] = ()  # what this run measures

    @property
    def tag(self) -> str:
        """The label as rich markup shows it ("[profile] " is not a style tag)."""
        return escape(self.label)

    @property
    def paths(self) -> jobfactory.JobPaths:
        return jobfactory.JobPaths(self.run_dir, tuple(self.data.label_names), self.threads)

    @property
    def machine(self) -> Machine:
        usable = (self.record.environment.get("machine") or {}).get("usable_cores")
        return Machine(self.profile.device, self.threads, self.profile.name, self.profile.price_usd_per_hour, usable)

    def save(self, **changes) -> None:
        self.record = dataclasses.replace(self.record, **changes)
        save_run(self.run_dir, self.record)

    def add_cell(self, cell: CellRecord) -> None:
        self.record = self.record.with_cell(cell)
        save_run(self.run_dir, self.record)  # every finished cell is on disk before the next starts

    def worker_progress(self, label: str):
        """A live bar on a terminal; in logs (nox, CI), where no bar renders, a line at every 10%. A
        message with done = total = 0 is a line of its own (a tuning trial's result), kept on both."""
        task_id = self.progress.add_task("  starting worker", total=1)
        last_decile: dict[str, int] = {}  # per text: each phase (and each tuning trial) has its own 10%s

        def update(text: str, done: int, total: int) -> None:
            if total == 0:
                self.console.print(f"  {self.tag}{label}: {text}")
                return
            self.progress.update(task_id, description=f"  {self.tag}{text}", completed=done, total=max(total, 1), visible=True)
            decile = int(10 * done / max(total, 1))
            if not self.console.is_terminal and total > 1 and decile > last_decile.get(text, -1):
                last_decile[text] = decile
                self.console.print(f"  {label}: {text} {done}/{total}")
        update.task_id = task_id
        return update

    def run_job(self, job, log_name: str, timeout_s: float) -> Outcome:
        on_progress = self.worker_progress(log_name)
        executor = self.build_executor if job.kind == "build" else self.executor
        try:
            return executor.run(job, self.run_dir / "logs" / f"{log_name}.log", timeout_s, on_progress,
                                     memory_limit_mib=self.suite.measure.memory_limit_mib)
        finally:
            self.progress.remove_task(on_progress.task_id)


class _ProgressExecutor:
    """The run's executor with a progress bar per worker, removed when the worker ends."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.slots = getattr(ctx.executor, "slots", 1)  # the nodes of a cluster profile measure at once

    def run(self, job, log_path: Path, timeout_s: float, on_progress=None, memory_limit_mib=None) -> Outcome:
        return self.ctx.run_job(job, log_path.stem, timeout_s)


def _not_built(ctx: RunContext, variant: Variant, outcome: Outcome, todo: list[PlannedCell]) -> None:
    status = "unsupported" if outcome.status == "unsupported" else "failed"
    ctx.save(builds={**ctx.record.builds, variant.name: {"status": status, "reason": outcome.reason,
                                                         "error_tail": outcome.error_tail}})
    for record in not_built_records(variant.name, jobfactory.variant_steps(ctx.suite, variant),
                                    jobfactory.runtime_of_variant(ctx.suite, variant), outcome, todo):
        ctx.add_cell(record)
        ctx.console.print(ctx.tag + echo_line(record))


def _pending(ctx: RunContext, variant: Variant, artifact: Path, manifest: dict, todo: list[PlannedCell]):
    for planned in todo:
        job = jobfactory.cell_job(ctx.suite, ctx.profile, variant, planned, artifact, ctx.paths)
        yield PendingCell(variant.name, jobfactory.variant_steps(ctx.suite, variant), manifest, planned.scenario,
                          planned.batch_size, planned.seq_len, job=job, traffic=planned.traffic,
                          processes=SCENARIOS[planned.scenario].processes(ctx.suite))


def _build_all(ctx: RunContext, variants: list[Variant], overall, scheduler: Scheduler) -> list[PendingCell]:
    """Build every variant that has cells to measure; its cells, with processes measured before a resume."""
    verified: dict[str, dict] = {}
    cells: list[PendingCell] = []
    for variant in variants:
        todo = _missing(ctx, variant)
        if not todo:
            continue
        ctx.progress.update(overall, description=f"{ctx.tag}building {variant.name}")
        artifact, manifests, failure = build_chain(ctx, variant, verified)
        if failure is not None:
            _not_built(ctx, variant, failure, todo)
            ctx.progress.advance(overall, len(todo))
            continue
        ctx.save(builds={**ctx.record.builds, variant.name: {"status": "ok", "artifact_dir": str(artifact),
                                                            "manifests": manifests}})
        for cell in _pending(ctx, variant, artifact, manifests[-1], todo):
            scheduler.load_partial(cell)
            cells.append(cell)
    return cells


def _missing(ctx: RunContext, variant: Variant) -> list[PlannedCell]:
    return [c for c in jobfactory.plan_cells(ctx.suite, variant) if ctx.record.cell(cell_id(variant.name, *c)) is None]


def measure_all(ctx: RunContext, variants: list[Variant]) -> None:
    """Build every variant, then measure scenario by scenario (accuracy, offline, server), each in
    rounds of one process per cell (bench/scheduler.py)."""
    overall = ctx.progress.add_task(f"{ctx.tag}cells", total=sum(len(_missing(ctx, v)) for v in variants))
    scheduler = Scheduler(_ProgressExecutor(ctx), ctx.run_dir, ctx.suite.measure.cell_timeout_s,
                          describe=lambda text: ctx.progress.update(overall, description=ctx.tag + text))
    cells = _build_all(ctx, variants, overall, scheduler)
    saving = threading.Lock()  # cells of one run may finish at once on several nodes

    def finish(cell: PendingCell, outcome: Outcome) -> None:
        record = cell_record(cell, outcome, ctx.machine)
        with saving:
            ctx.add_cell(record)
        ctx.console.print(ctx.tag + echo_line(record))
        ctx.progress.advance(overall)

    scheduler.run_rounds(cells, list(SCENARIOS), lambda cid: ctx.record.cell(cid) is not None, finish)
    ctx.progress.update(overall, description=f"{ctx.tag}cells")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _setup(suite_ref, request: ProfileRequest, out_root, only, overrides, resume, console) -> RunSetup:
    if resume is None:
        return start_run(suite_ref, request, out_root, overrides, only, console)
    if suite_ref or request != ProfileRequest() or overrides:
        raise BenchError("--resume takes the suite, profile and settings from the run; give no SUITE, "
                         "--profile or --set with it")
    return resume_run(resume, only, console)


def new_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def make_context(setup: RunSetup, console: Console, executor: Executor | None, resuming: bool,
                 progress: Progress | None = None, label: str = "", build_executor: Executor | None = None) -> RunContext:
    """The run's context, after saying on the terminal what it measures and what it is priced as.
    `progress`: a display shared by the runs of a fan-out (one bar per run); `label` prefixes its lines;
    `build_executor`: where artifacts are built (default: here, in a local worker)."""
    suite, profile = setup.suite, setup.profile
    threads = resolve_threads(suite.measure.threads)
    from bench.report.labels import header_line, pricing_label

    console.print(f"{escape(label)}bench: suite [bold]{suite.name}[/], {threads} threads -> {setup.run_dir}"
                  + (f" (resuming: {len(setup.record.cells)} cells already measured)" if resuming else ""),
                  soft_wrap=True)
    console.print(label + header_line(setup.record), soft_wrap=True, markup=False)
    if pricing_label(setup.record):
        console.print(f"[bold red]{pricing_label(setup.record)}: every dollar figure of this run is labelled so",
                      soft_wrap=True)
    usable = (setup.record.environment.get("machine") or {}).get("usable_cores")
    if usable and threads > usable:
        console.print(f"[yellow]measure.threads = {threads} on {usable} usable cores: threads will wait for each "
                      "other; every cell records a warning", soft_wrap=True)
    return RunContext(suite, profile, setup.run_dir, setup.data, setup.base_model_dir, setup.base_model_hash,
                      threads, console, progress or new_progress(console), setup.record, executor or LocalExecutor(),
                      build_executor=build_executor or LocalExecutor(), label=label, variants=setup.variants)


def _measure_in_threads(contexts: list[RunContext]) -> None:
    """Each run in a thread of its own (they block on their executors, not on the CPU); the first error
    of any is raised here once all have ended. A Ctrl-C or SIGTERM reaches this (main) thread."""
    run_in_threads([(f"bench-{ctx.label}", lambda ctx=ctx: measure_all(ctx, list(ctx.variants))) for ctx in contexts])


def run_contexts(contexts: list[RunContext]) -> list[int]:
    """Measure one run (here) or the runs of a fan-out (one thread each, sharing one progress display),
    saving every finished cell at once; each run's exit code. Interrupted: every run is saved as
    `interrupted` with how to resume it, and KeyboardInterrupt is raised."""
    before = [(ctx.record.cells, ctx.record.finished_at) for ctx in contexts]
    for ctx in contexts:
        ctx.save()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops as cleanly as Ctrl-C
    try:
        with contexts[0].progress:
            if len(contexts) == 1:
                measure_all(contexts[0], list(contexts[0].variants))
            else:
                _measure_in_threads(contexts)
    except KeyboardInterrupt:
        for ctx in contexts:
            ctx.save(status="interrupted", finished_at=utc_now())
            ctx.console.print(f"[yellow]{ctx.tag}interrupted; every finished cell is in {ctx.run_dir / 'run.json'}; "
                              f"continue with: bench run --resume {ctx.run_dir}", soft_wrap=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    codes = []
    for ctx, (cells, finished_at) in zip(contexts, before, strict=True):
        # the resume of a finished run that had nothing left to measure keeps the time it finished
        unchanged = finished_at is not None and len(cells) == len(ctx.record.cells) and all(
            a is b for a, b in zip(cells, ctx.record.cells, strict=True))
        ctx.save(status="finished", finished_at=finished_at if unchanged else utc_now())
        codes.append(EXIT_FAILED_CELLS if any(c.status == "failed" for c in ctx.record.cells) else EXIT_OK)
    return codes


def run_suite(suite_ref: str | None, *, profile: ProfileRequest | None = None, out_root: Path = Path("results"),
              only: list[str] | None = None, overrides: list[str] | None = None, resume: Path | None = None,
              console: Console | None = None, executor: Executor | None = None) -> tuple[Path, int]:
    console = console or Console(stderr=True)
    setup = _setup(suite_ref, profile or ProfileRequest(), out_root, only, overrides, resume, console)
    ctx = make_context(setup, console, executor, resume is not None)
    return ctx.run_dir, run_contexts([ctx])[0]
