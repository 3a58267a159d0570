"""The parent that runs a suite: plan the cells, build artifacts and measure cells in workers, and
write every finished cell to run.json at once. It never loads a model itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import artifacts, launcher
from bench.config import REPO_ROOT, Profile, Suite, Variant, load_profile
from bench.cost import usd_per_million
from bench.data import TaskData, load_task_data, write_split
from bench.env import collect_environment
from bench.errors import EXIT_FAILED_CELLS, EXIT_OK, BenchError, ConfigError
from bench.record import CellRecord, RunRecord, cell_id, save_run, write_atomic
from bench.registry import STEPS, load_suite, resolve_variant
from bench.stats import HIGH_CV, summarize_ms


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_run_dir(out_root: Path, suite_name: str, git_short: str | None) -> Path:
    """results/<suite>/<UTC timestamp>-<git short sha>/, created exclusively: never an existing one."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = out_root / suite_name / f"{stamp}-{git_short or 'nogit'}"
    for n in range(100):
        candidate = base if n == 0 else base.with_name(f"{base.name}.{n}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise BenchError(f"cannot create a new run directory under {base.parent}")


def resolve_threads(requested: int) -> int:
    return requested or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass
class RunContext:
    suite: Suite
    suite_dir: Path
    profile: Profile
    run_dir: Path
    data: TaskData
    base_model_dir: Path
    base_model_hash: str
    threads: int
    console: Console
    progress: Progress
    record: RunRecord

    def save(self, **changes) -> None:
        self.record = dataclasses.replace(self.record, **changes)
        save_run(self.run_dir, self.record)

    def add_cell(self, cell: CellRecord) -> None:
        self.record = self.record.with_cell(cell)
        save_run(self.run_dir, self.record)  # every finished cell is on disk before the next starts


def _worker_progress(progress: Progress, task_id, console: Console, label: str):
    """A live bar on a terminal; in logs (nox, CI), where no bar renders, a line at every 10%."""
    last_decile = [-1]

    def update(text: str, done: int, total: int) -> None:
        progress.update(task_id, description=f"  {text}", completed=done, total=max(total, 1), visible=True)
        decile = int(10 * done / max(total, 1))
        if not console.is_terminal and total > 1 and decile > last_decile[0]:
            last_decile[0] = decile
            console.print(f"  {label}: {text} {done}/{total}")
    return update


def run_job(ctx: RunContext, job: dict, log_name: str, timeout_s: float) -> launcher.Outcome:
    sub = ctx.progress.add_task("  starting worker", total=1)
    try:
        return launcher.run_job(job, ctx.run_dir / "logs" / f"{log_name}.log", timeout_s,
                                _worker_progress(ctx.progress, sub, ctx.console, log_name),
                                memory_limit_mib=ctx.suite.measure.memory_limit_mib)
    finally:
        ctx.progress.remove_task(sub)


# ---- building ---------------------------------------------------------------------------------

def _first_step_inputs(ctx: RunContext) -> dict:
    return {"base_model_sha256": ctx.base_model_hash, "train_sha256": ctx.data.train.sha256(),
            "val_sha256": ctx.data.val.sha256(), "labels": list(ctx.data.label_names),
            "finetune": ctx.suite.finetune.model_dump(), "device": ctx.profile.device}


def build_chain(ctx: RunContext, variant: Variant, verified: dict[str, dict]) -> tuple[Path | None, list, launcher.Outcome | None]:
    """Build (or reuse) each step of the chain; returns the artifact, the manifests, and the failing outcome."""
    parent_key, parent_dir, manifests = None, None, []
    resolved = resolve_variant(ctx.suite, variant)
    for step_name in resolved.steps:
        step = STEPS[step_name]
        params = resolved.params[step_name]
        payload = {"step": step_name, "version": step.version, "params": params,
                   "parent": parent_key or _first_step_inputs(ctx)}
        if step.hardware_specific:  # e.g. a TensorRT engine is valid only for its GPU and TensorRT version
            env = ctx.record.environment
            payload["hardware"] = {"gpu_name": env.get("gpu_name"), "gpu_driver": env.get("gpu_driver"),
                                   "packages": env.get("packages")}
        key = artifacts.content_key(payload)
        final = artifacts.artifact_dir(step_name, key)
        if key not in verified:
            def build(final=final, step_name=step_name, params=params, key=key, parent_dir=parent_dir):
                return _build_step(ctx, step_name, params, key, final, parent_dir)

            manifest, outcome = artifacts.get_or_build(final, build, on_rebuild=lambda problem, final=final: ctx.console.print(
                f"[yellow]cached {final.name} is unusable ({problem}); rebuilding"))
            if manifest is None:
                return None, manifests, outcome
            verified[key] = manifest
        manifests.append(verified[key])
        parent_key, parent_dir = key, final
    return parent_dir, manifests, None


def _build_step(ctx: RunContext, step_name: str, params: dict, key: str, final: Path, parent_dir: Path | None):
    staging = artifacts.staging_dir(final)
    data_dir = ctx.run_dir / "data"
    job = {"kind": "build", "step": step_name, "params": params, "out_dir": str(staging),
           "parent_dir": str(parent_dir) if parent_dir else None, "base_model_dir": str(ctx.base_model_dir),
           "finetune": ctx.suite.finetune.model_dump(), "train_path": str(data_dir / "train.jsonl"),
           "val_path": str(data_dir / "val.jsonl"), "label_names": list(ctx.data.label_names),
           "device": ctx.profile.device, "threads": ctx.threads,
           "trust_remote_code": ctx.suite.model.trust_remote_code,
           "eval_batch_size": ctx.suite.measure.eval_batch_size}
    outcome = run_job(ctx, job, f"build-{step_name}-{key[:12]}", ctx.suite.measure.build_timeout_s)
    if outcome.status != "ok":
        shutil.rmtree(staging, ignore_errors=True)
        return outcome
    parent = artifacts.read_manifest(parent_dir) if parent_dir else None
    built_on = {"cpu_model": ctx.record.environment.get("cpu_model"),
                "gpu_name": ctx.record.environment.get("gpu_name"), "profile": ctx.profile.name}
    manifest = artifacts.step_manifest(step_name, key, params, STEPS[step_name].output_format, parent, built_on,
                                       outcome.result)
    return dataclasses.replace(outcome, result=artifacts.publish(staging, final, manifest))


# ---- measuring --------------------------------------------------------------------------------

def plan_cells(suite: Suite, variant: Variant) -> list[tuple[str, int | None, int | None]]:
    cells = [("accuracy", None, None)]
    cells += [("offline", b, s) for s in suite.measure.seq_lengths for b in suite.measure.batch_sizes]
    if variant.name in suite.server_variants():
        cells.append(("server", None, None))
    return cells


def _cell_job(ctx: RunContext, variant: Variant, artifact: Path, scenario: str, bs, seq) -> dict:
    m = ctx.suite.measure
    job = {"kind": scenario, "runtime": resolve_variant(ctx.suite, variant).runtime, "artifact_dir": str(artifact),
           "device": ctx.profile.device, "threads": ctx.threads,
           "test_path": str(ctx.run_dir / "data" / "test.jsonl"), "label_names": list(ctx.data.label_names),
           "seed": ctx.suite.task.seed, "gpu_isolation": ctx.suite.measure.gpu_isolation,
           "price_usd_per_kwh": ctx.profile.price_usd_per_kwh}
    if scenario == "accuracy":
        job.update(max_length=ctx.suite.finetune.max_length, eval_batch_size=m.eval_batch_size)
    elif scenario == "server":
        job.update(seq_len=ctx.suite.slo.seq_len, slo_p99_ms=ctx.suite.slo.p99_ms,
                   server=ctx.suite.server.model_dump())
    else:
        job.update(batch_size=bs, seq_len=seq, stop_rule={
            "warmup_iterations": m.warmup_iterations, "min_warmup_s": m.min_warmup_s, "max_warmup_s": m.max_warmup_s,
            "min_iterations": m.min_iterations,
            "min_duration_s": m.min_duration_s, "max_duration_s": m.max_duration_s})
    return job


@dataclass
class Cell:
    """A cell to measure: its job, and (offline, several processes) the results of the processes so far,
    which are also on disk under partial/ so an interrupted run resumes without losing one."""

    variant: Variant
    manifest: dict
    scenario: str
    batch_size: int | None
    seq_len: int | None
    job: dict
    processes: int = 1
    results: list = dataclasses.field(default_factory=list)
    wall_s: float = 0.0
    started_at: str | None = None  # when its first process started (not when it was planned)

    @property
    def cell_id(self) -> str:
        return cell_id(self.variant.name, self.scenario, self.batch_size, self.seq_len)

    @property
    def log_name(self) -> str:
        return self.cell_id.replace("/", "_")


def _partial_path(ctx: RunContext, cell: Cell) -> Path:
    return ctx.run_dir / "partial" / f"{cell.log_name}.json"


def _load_partial(ctx: RunContext, cell: Cell) -> None:
    path = _partial_path(ctx, cell)
    if path.is_file():
        saved = json.loads(path.read_text())
        cell.results, cell.wall_s, cell.started_at = saved["results"], saved["wall_s"], saved["started_at"]


def _save_partial(ctx: RunContext, cell: Cell) -> None:
    write_atomic(_partial_path(ctx, cell), json.dumps({"cell_id": cell.cell_id, "started_at": cell.started_at,
                                                      "wall_s": cell.wall_s, "results": cell.results}))


def run_one_process(ctx: RunContext, cell: Cell) -> CellRecord | None:
    """Run the cell's next process; returns its record once the cell is finished (all processes, or the
    first failure: a cell is kept whole or not at all), else None."""
    from bench.jobs import combine_processes

    i = len(cell.results)
    cell.started_at = cell.started_at or utc_now()
    name = cell.log_name + (f"-p{i + 1}" if cell.processes > 1 else "")
    outcome = run_job(ctx, cell.job, name, ctx.suite.measure.cell_timeout_s)
    cell.wall_s += outcome.wall_s
    if outcome.status != "ok":
        if cell.processes > 1:
            outcome = dataclasses.replace(outcome, reason=f"process {i + 1} of {cell.processes}: {outcome.reason}")
    else:
        cell.results.append(outcome.result)
        if len(cell.results) < cell.processes:
            _save_partial(ctx, cell)
            return None
        outcome = dataclasses.replace(outcome, result=combine_processes(
            cell.results, cell.batch_size or 1, cell.job.get("price_usd_per_kwh")))
    _partial_path(ctx, cell).unlink(missing_ok=True)
    return cell_record(ctx, cell, dataclasses.replace(outcome, wall_s=cell.wall_s))


def cell_record(ctx: RunContext, cell: Cell, outcome: launcher.Outcome) -> CellRecord:
    job, manifest = cell.job, cell.manifest
    seq = ctx.suite.slo.seq_len if cell.scenario == "server" else cell.seq_len
    common = {"cell_id": cell.cell_id, "variant": cell.variant.name, "steps": resolve_variant(ctx.suite, cell.variant).steps,
              "runtime": job["runtime"], "scenario": cell.scenario, "batch_size": cell.batch_size, "seq_len": seq,
              "started_at": cell.started_at, "wall_s": outcome.wall_s,
              "model": {"parameters": manifest.get("parameters"),
                        "size_on_disk_mib": round(manifest.get("size_on_disk_bytes", 0) / 2**20, 2)},
              "settings": {"device": ctx.profile.device, "threads": ctx.threads, "clock": "time.perf_counter_ns",
                           **{k: v for k, v in job.items() if k in ("stop_rule", "max_length", "eval_batch_size", "server")},
                           **({"processes": cell.processes} if cell.scenario == "offline" else {})}}
    if outcome.status != "ok":
        return CellRecord(**common, status=outcome.status, reason=outcome.reason, error_kind=outcome.error_kind,
                          error_tail=outcome.error_tail)
    r = outcome.result
    common["settings"]["runtime_info"] = r.get("runtime_info")
    cost = None
    if r.get("throughput_samples_per_s"):
        cost = {"usd_per_million": usd_per_million(ctx.profile.price_usd_per_hour, r["throughput_samples_per_s"]),
                "price_usd_per_hour": ctx.profile.price_usd_per_hour, "profile": ctx.profile.name}
    return CellRecord(**common, status="ok", latency=r.get("latency"),
                      throughput_samples_per_s=r.get("throughput_samples_per_s"), memory=r.get("memory"),
                      quality=r.get("quality"), cost=cost, server=r.get("server"), energy=r.get("energy"),
                      isolation=r.get("isolation"))


def _variant_not_built(ctx: RunContext, variant: Variant, outcome: launcher.Outcome, todo: list) -> None:
    status = "unsupported" if outcome.status == "unsupported" else "failed"
    builds = {**ctx.record.builds, variant.name: {"status": status, "reason": outcome.reason,
                                                   "error_tail": outcome.error_tail}}
    ctx.save(builds=builds)
    resolved = resolve_variant(ctx.suite, variant)
    for scenario, bs, seq in todo:
        ctx.add_cell(CellRecord(
            cell_id=cell_id(variant.name, scenario, bs, seq), variant=variant.name, steps=resolved.steps,
            runtime=resolved.runtime, scenario=scenario, batch_size=bs, seq_len=seq, status=status,
            reason=f"build: {outcome.reason}", error_kind="build_failed" if status == "failed" else None,
            error_tail=outcome.error_tail, started_at=utc_now(), wall_s=0.0))


def _echo_cell(console: Console, cell: CellRecord) -> None:
    if cell.status != "ok":
        colour = "yellow" if cell.status == "unsupported" else "red"
        console.print(f"[{colour}]{cell.status:11}[/] {cell.cell_id}: {cell.reason}")
    elif cell.scenario == "accuracy":
        q = cell.quality
        console.print(f"[green]ok[/]          {cell.cell_id}: accuracy {q['accuracy']:.4f} "
                      f"[{q['accuracy_ci95'][0]:.3f}, {q['accuracy_ci95'][1]:.3f}]  macro-F1 {q['macro_f1']:.4f}")
    elif cell.scenario == "server":
        best = cell.server["best"]
        if best is None:
            lowest = min((p for st in cell.server["settings"] for p in st["probes"]), key=lambda p: p["offered_qps"])
            console.print(f"[yellow]ok[/]          {cell.cell_id}: no load meets p99 {cell.server['slo_p99_ms']:g} ms "
                          f"(at {lowest['offered_qps']:.1f} QPS the p99 was {lowest['p99_ms'] or math.nan:.1f} ms)")
        else:
            s = summarize_ms(cell.latency["samples_ms"])
            console.print(f"[green]ok[/]          {cell.cell_id}: {best['max_qps']:.1f} QPS at p99 {s['p99']:.1f} ms "
                          f"(max batch {best['max_batch_size']}, delay {best['max_queue_delay_ms']:g} ms)  "
                          f"${cell.cost['usd_per_million']:.3f}/1M")
    else:
        s = cell.latency["summary"]
        warn = "  [yellow]cv {:.0%}[/]".format(s["cv"]) if s["cv"] > HIGH_CV else ""
        if "between_process_cv" in s:
            n = len(cell.latency["process_sample_counts"])
            warn += "  {}{} processes, medians vary {:.1%}{}".format(
                "[yellow]" if s["between_process_cv"] > 0.05 else "", n, s["between_process_cv"],
                "[/]" if s["between_process_cv"] > 0.05 else "")
        lat = cell.latency
        gpu = ""
        if lat.get("device_ms"):
            gpu += f"  CUDA-event p50 {summarize_ms(lat['device_ms'])['p50']:.3f} ms"
        if lat.get("end_to_end"):
            gpu += f"  end-to-end p50 {summarize_ms(lat['end_to_end']['samples_ms'])['p50']:.3f} ms"
        console.print(f"[green]ok[/]          {cell.cell_id}: p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms  "
                      f"{cell.throughput_samples_per_s:.1f}/s  ${cell.cost['usd_per_million']:.3f}/1M{gpu}{warn}")
        for warning in isolation_warnings(cell.isolation):
            console.print(f"[yellow]            {warning}")


def isolation_warnings(isolation: dict | None) -> list[str]:
    """The device-isolation warnings of a cell (one process, or several under `processes`)."""
    if not isolation:
        return []
    checks = isolation.get("processes") or [isolation]
    out = []
    for check in checks:
        for when in ("before", "during", "after"):
            if (check.get(when) or {}).get("warning"):
                out.append(check[when]["warning"])
    return out


def _select_variants(suite: Suite, only: list[str] | None, where: str) -> list[Variant]:
    if not only:
        return list(suite.variants)
    known = {v.name for v in suite.variants}
    unknown = [o for o in only if o not in known]
    if unknown:
        raise ConfigError(where, f"--only names variants not in the suite: {', '.join(unknown)}; "
                          f"the suite has: {', '.join(sorted(known))}")
    return [v for v in suite.variants if v.name in only]


def _start(suite_ref: str, profile_name: str | None, out_root: Path, overrides, only, console: Console) -> dict:
    from bench.models import resolve_base_model

    suite, suite_path = load_suite(suite_ref, overrides)
    env = collect_environment(REPO_ROOT)
    profile = resolve_profile(profile_name, suite, env, console)
    variants = _select_variants(suite, only, str(suite_path))
    if profile.device == "cuda" and not env.get("gpu_name"):
        raise ConfigError(f"profiles/{profile.name}.toml", "this profile is for a CUDA GPU, and no NVIDIA GPU "
                          "was found here (nvidia-smi); pick a CPU profile with --profile")
    with console.status("loading and splitting the dataset"):
        data = load_task_data(suite.task, suite_path.parent)
    base_model_dir = resolve_base_model(suite.model.base, suite_path.parent, suite.model.trust_remote_code)
    with console.status("hashing the base model"):
        base_hash = artifacts.model_dir_hash(base_model_dir)
    run_dir = new_run_dir(out_root, suite.name, env["git"]["short"])
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        write_split(split, run_dir / "data" / f"{name}.jsonl")
    (run_dir / "logs").mkdir()
    record = RunRecord(run_id=run_dir.name, suite_name=suite.name, suite=suite.model_dump(),
                       suite_path=str(suite_path), profile=profile.model_dump(), environment=env,
                       data={**data.summary(), "base_model": {"path": str(base_model_dir), "sha256": base_hash}},
                       variants=tuple(v.name for v in variants), started_at=utc_now())
    return dict(suite=suite, profile=profile, run_dir=run_dir, data=data, base_model_dir=base_model_dir,
                base_hash=base_hash, record=record, variants=variants)


def resolve_profile(name: str | None, suite: Suite, env: dict, console: Console) -> Profile:
    """A named profile; or `auto`: the CUDA profile matching this machine's GPU, else the suite's."""
    if name != "auto":
        return load_profile(name or suite.default_profile)
    from bench.config import list_files
    from bench.gpu import match_profile

    gpu = env.get("gpu_name")
    if not gpu:
        console.print(f"--profile auto: no NVIDIA GPU here; using the suite's profile {suite.default_profile}")
        return load_profile(suite.default_profile)
    found = match_profile(gpu, [load_profile(str(p)) for p in list_files("profiles")])
    if found is None:
        raise ConfigError("--profile auto", f"no profile in profiles/ matches the GPU '{gpu}' (by gpu_name_contains); "
                          "add one with its price, or name a profile with --profile")
    console.print(f"--profile auto: GPU '{gpu}' -> profile {found.name}")
    return found


RESUME_CHECKED = ("cpu_model", "cpu_count", "gpu_name")
RESUME_PACKAGES = ("torch", "transformers", "onnxruntime", "onnxruntime-gpu", "peft", "tensorrt")


def _resume(run_dir: Path, only, console: Console) -> dict:
    """Reopen a run: same suite, profile, data and model as recorded, on the same kind of machine."""
    from bench.data import read_split
    from bench.record import load_run
    from bench.registry import check_variants

    record = load_run(run_dir)
    suite = Suite.model_validate(record.suite)
    check_variants(suite, record.suite_path)
    profile = Profile.model_validate(record.profile)
    env = collect_environment(REPO_ROOT)
    before = record.environment
    differ = [k for k in RESUME_CHECKED if env.get(k) != before.get(k)]
    differ += [f"{p} {before.get('packages', {}).get(p)} -> {env['packages'].get(p)}" for p in RESUME_PACKAGES
               if env["packages"].get(p) != before.get("packages", {}).get(p)]
    if differ:
        raise BenchError(f"{run_dir}: cannot resume here, the environment differs from the run's "
                         f"({'; '.join(differ)}); start a new run instead")
    splits = {}
    for name in ("train", "val", "test"):
        split = read_split(run_dir / "data" / f"{name}.jsonl")
        if split.sha256() != record.data[name]["sha256"]:
            raise BenchError(f"{run_dir / 'data' / (name + '.jsonl')}: does not match the sha256 in run.json")
        splits[name] = split
    data = TaskData(tuple(record.data["label_names"]), splits["train"], splits["val"], splits["test"],
                    record.data.get("cleaning", {}))
    base_model_dir = Path(record.data["base_model"]["path"])
    base_hash = artifacts.model_dir_hash(base_model_dir) if base_model_dir.is_dir() else None
    if base_hash != record.data["base_model"]["sha256"]:
        raise BenchError(f"{base_model_dir}: the base model is missing or changed since the run started")
    (run_dir / "logs").mkdir(exist_ok=True)
    record = dataclasses.replace(record, status="running")
    return dict(suite=suite, profile=profile, run_dir=run_dir, data=data, base_model_dir=base_model_dir,
                base_hash=base_hash, record=record,
                variants=_select_variants(suite, only or list(record.variants) or None, record.suite_path))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_suite(suite_ref: str | None, *, profile_name: str | None = None, out_root: Path = Path("results"),
              only: list[str] | None = None, overrides: list[str] | None = None, resume: Path | None = None,
              console: Console | None = None) -> tuple[Path, int]:
    console = console or Console(stderr=True)
    if resume is not None:
        if suite_ref or profile_name or overrides:
            raise BenchError("--resume takes the suite, profile and settings from the run; give no SUITE, "
                             "--profile or --set with it")
        parts = _resume(resume, only, console)
    else:
        parts = _start(suite_ref, profile_name, out_root, overrides, only, console)
    suite, profile, run_dir = parts["suite"], parts["profile"], parts["run_dir"]
    threads = resolve_threads(suite.measure.threads)
    done = len(parts["record"].cells)
    console.print(f"bench: suite [bold]{suite.name}[/] on profile [bold]{profile.name}[/] "
                  f"({profile.instance}, ${profile.price_usd_per_hour}/h), {threads} threads -> {run_dir}"
                  + (f" (resuming: {done} cells already measured)" if resume else ""), soft_wrap=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=False)
    ctx = RunContext(suite, Path(parts["record"].suite_path).parent, profile, run_dir, parts["data"],
                     parts["base_model_dir"], parts["base_hash"], threads, console, progress, parts["record"])
    ctx.save()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops as cleanly as Ctrl-C
    try:
        with progress:
            measure_all(ctx, parts["variants"])
    except KeyboardInterrupt:
        ctx.save(status="interrupted", finished_at=utc_now())
        console.print(f"[yellow]interrupted; every finished cell is in {run_dir / 'run.json'}; "
                      f"continue with: bench run --resume {run_dir}", soft_wrap=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    ctx.save(status="finished", finished_at=utc_now())
    failed = sum(c.status == "failed" for c in ctx.record.cells)
    return run_dir, (EXIT_FAILED_CELLS if failed else EXIT_OK)


def measure_all(ctx: RunContext, variants: list[Variant]) -> None:
    """Build every variant, then measure: accuracy cells, offline cells, server cells. With
    `measure.processes` > 1 the offline cells are measured in rounds, one process of every cell per
    round, so each cell's processes are spread over the whole offline phase: a machine that is slow
    for a few minutes then slows one process of every cell, not every process of one cell, and the
    spread between processes (which `bench compare` tests on) includes that drift."""
    def missing(v: Variant) -> list:
        return [c for c in plan_cells(ctx.suite, v) if ctx.record.cell(cell_id(v.name, *c)) is None]

    total = sum(len(missing(v)) for v in variants)
    overall = ctx.progress.add_task("cells", total=total)
    verified: dict[str, dict] = {}
    cells: list[Cell] = []
    for variant in variants:
        todo = missing(variant)
        if not todo:
            continue
        ctx.progress.update(overall, description=f"building {variant.name}")
        artifact, manifests, failure = build_chain(ctx, variant, verified)
        if failure is not None:
            _variant_not_built(ctx, variant, failure, todo)
            ctx.progress.advance(overall, len(todo))
            for cell in ctx.record.cells:
                if cell.variant == variant.name:
                    _echo_cell(ctx.console, cell)
            continue
        ctx.save(builds={**ctx.record.builds, variant.name: {"status": "ok", "artifact_dir": str(artifact),
                                                            "manifests": manifests}})
        for scenario, bs, seq in todo:
            cell = Cell(variant, manifests[-1], scenario, bs, seq, _cell_job(ctx, variant, artifact, scenario, bs, seq),
                        processes=ctx.suite.measure.processes if scenario == "offline" else 1)
            _load_partial(ctx, cell)
            cells.append(cell)

    def finish(record: CellRecord) -> None:
        ctx.add_cell(record)
        _echo_cell(ctx.console, record)
        ctx.progress.advance(overall)

    for scenario in ("accuracy", "offline", "server"):
        pending = [c for c in cells if c.scenario == scenario]
        rounds = max((c.processes for c in pending), default=0)
        for r in range(rounds):
            for cell in pending:
                if len(cell.results) > r or ctx.record.cell(cell.cell_id) is not None:
                    continue  # this round's process was measured before a resume, or the cell is finished
                label = f" (process {r + 1} of {cell.processes})" if cell.processes > 1 else ""
                ctx.progress.update(overall, description=f"measuring {cell.cell_id}{label}")
                record = run_one_process(ctx, cell)
                if record is not None:
                    finish(record)
    ctx.progress.update(overall, description="cells")
