"""A run's directory and its start or resume: the suite, profile, data and base model a run measures
(`RunSetup`), and the refusal to resume on a machine that differs from the run's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench import artifacts
from bench.config import REPO_ROOT, Profile, Suite, Variant, load_profile, override_source
from bench.data import TaskData, load_task_data, write_split, write_task_info
from bench.env import collect_environment, environment_differences
from bench.errors import BenchError, ConfigError
from bench.record import RunRecord

SPLITS = ("train", "val", "test")
SIMULATED_NOTE = "simulated node (it advertises the profile without being that hardware; check relaxed)"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_run_dir(out_root: Path, suite_name: str, git_short: str | None, tag: str | None = None) -> Path:
    """results/<suite>/<UTC timestamp>-<git short sha>[-<tag>]/, created exclusively: never an existing
    one. A fan-out run tags each profile's directory with the profile's name."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = out_root / suite_name / (f"{stamp}-{git_short or 'nogit'}" + (f"-{tag}" if tag else ""))
    for n in range(100):
        candidate = base if n == 0 else base.with_name(f"{base.name}.{n}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
        except (NotADirectoryError, PermissionError) as e:
            raise BenchError(f"--out {out_root}: cannot create {candidate} ({e.strerror}); give a writable folder") from None
    raise BenchError(f"cannot create a new run directory under {base.parent}")


def resolve_threads(requested: int) -> int:
    return requested or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass(frozen=True)
class RunSetup:
    """What a started or resumed run measures, and where."""

    suite: Suite
    profile: Profile
    run_dir: Path
    data: TaskData
    base_model_dir: Path
    base_model_hash: str
    record: RunRecord
    variants: tuple[Variant, ...]


def is_reference(variant: Variant) -> bool:
    """The full fine-tune in its own PyTorch runtime (bench.report.quality.reference_variant, before a run)."""
    return (variant.chain or variant.name.split("+")) == ["full"] and variant.runtime in (None, "torch")


def select_variants(suite: Suite, only: list[str] | None, where: str) -> list[Variant]:
    if not only:
        return list(suite.variants)
    known = {v.name for v in suite.variants}
    unknown = [o for o in only if o not in known]
    if unknown:
        hints = [f"'{o}' (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(o, known, n=1)) else f"'{o}'"
                 for o in unknown]
        raise ConfigError(where, f"--only names variants not in the suite: {', '.join(hints)}; "
                          f"the suite has: {', '.join(sorted(known))}")
    return [v for v in suite.variants if v.name in only]


@dataclass(frozen=True)
class ProfileRequest:
    """What the command line asks for: `--profile` (a name or path, `auto`, `local`; None: the suite's
    default_profile), `--allow-profile-mismatch` and `--price-usd-per-hour` (for `local`)."""

    name: str | None = None
    allow_mismatch: bool = False
    price_usd_per_hour: float | None = None


def choose_run_profile(request: ProfileRequest, suite: Suite, machine, console: Console, simulated: bool = False):
    """The profile a new run is priced as, checked against the machine measured (bench.profile_match);
    says in one line what `auto`/`local` or an allowed mismatch did. A simulated cluster node (tests,
    demos: it only plays its profile) relaxes the check and labels the run so. Raises ConfigError (exit 2)."""
    from bench.config import list_files
    from bench.profile_match import choose_profile

    shipped = [load_profile(str(p)) for p in list_files("profiles")]
    choice = choose_profile(request.name or suite.default_profile, machine, shipped, load_profile,
                            allow_mismatch=request.allow_mismatch or simulated,
                            price_usd_per_hour=request.price_usd_per_hour)
    if simulated:  # labelled even where the real machine happens to match: the node only plays the profile
        choice = dataclasses.replace(choice, mismatches=(SIMULATED_NOTE, *choice.mismatches),
                                     note=f"{SIMULATED_NOTE}: {choice.note}")
    if choice.note:
        colour = "yellow" if choice.status != "match" else "default"
        console.print(f"[{colour}]{choice.note}[/]", soft_wrap=True)
    if choice.profile.device == "cuda" and not machine.gpus:
        raise ConfigError(f"--profile {choice.profile.name}", "this profile is for a CUDA GPU, and no NVIDIA GPU "
                          "was found here (nvidia-smi); pick a CPU profile with --profile, or --profile auto")
    return choice


def check_lora_targets(suite, variants, base_model_dir: Path, suite_path: str) -> None:
    """A suite's steps.lora.target_modules must name layers of this base model (exit 2 before anything is written)."""
    from bench.registry import resolve_variant
    from bench.steps.lora import check_suite_targets

    if any("lora" in resolve_variant(suite, v).steps for v in variants):
        check_suite_targets(suite.steps.get("lora", {}).get("target_modules"), base_model_dir, suite_path)


def check_distilled_layers(suite, variants, base_model_dir: Path, suite_path: str) -> None:
    """steps.distilled.layers at most the base model's layers (the teacher's: pruning keeps every layer), or
    ConfigError (exit 2) naming the key, the value and the model's layer count, before anything is written."""
    from bench.models import layer_count
    from bench.registry import resolve_variant

    chains = [resolve_variant(suite, v) for v in variants]
    wanted = next((r.params["distilled"]["layers"] for r in chains if "distilled" in r.steps), None)
    teacher = layer_count(base_model_dir) if wanted is not None else None
    if teacher is not None and wanted > teacher:
        raise ConfigError(suite_path, f"steps.distilled.layers = {wanted}: the student cannot have more layers than "
                          f"its teacher, and the base model {base_model_dir} has {teacher}; use {teacher} or fewer")


@dataclass(frozen=True)
class Node:
    """The machine a run measures on when that is not this one: a cluster node's environment as
    collect_environment recorded it there, and what the run records about it under environment["cluster"]."""

    environment: dict
    cluster: dict  # executor, profile resource, node id, simulated, address

    @property
    def machine(self):
        from bench.machine import Machine

        return Machine.from_dict({k: v for k, v in self.environment["machine"].items() if k != "description"})


def start_run(suite_ref: str, request: ProfileRequest, out_root: Path, overrides, only,
              console: Console, node: Node | None = None) -> RunSetup:
    """A new run directory with the data split and the base model hashed; nothing measured yet. With a
    `node`, its machine is checked against the profile and recorded, and the directory is tagged with
    the profile's name."""
    from bench.machine import detect
    from bench.models import check_lengths, resolve_base_model
    from bench.registry import load_suite

    suite, suite_path = load_suite(suite_ref, overrides)
    machine = node.machine if node else detect()
    choice = choose_run_profile(request, suite, machine, console, simulated=bool(node and node.cluster["simulated"]))
    profile = choice.profile
    env = {**(node.environment if node else collect_environment(REPO_ROOT, machine)),
           "profile_check": choice.to_dict(), **({"cluster": node.cluster} if node else {})}
    variants = select_variants(suite, only, str(suite_path))
    if only and suite.slo.quality_floor is None and not any(is_reference(v) for v in variants):
        console.print("[yellow]--only leaves out the full fine-tune in PyTorch (the reference of the relative "
                      "quality floor, slo.accuracy_floor): this run cannot judge the floor or recommend a variant; "
                      "add --only full, or set slo.quality_floor to an absolute value[/]", soft_wrap=True)
    base_model_dir = resolve_base_model(suite.model.base, suite_path.parent, suite.model.trust_remote_code)
    check_lengths(suite, suite_path, base_model_dir)  # refused here, not mid-run
    check_lora_targets(suite, variants, base_model_dir, str(suite_path))
    check_distilled_layers(suite, variants, base_model_dir,
                           override_source(str(suite_path), overrides or [], ("steps", "distilled", "layers")))
    with console.status("loading and splitting the dataset"):
        data = load_task_data(suite.task, suite_path.parent)
    with console.status("hashing the base model"):
        base_hash = artifacts.model_dir_hash(base_model_dir)
    run_dir = new_run_dir(out_root, suite.name, env["git"]["short"], profile.name if node else None)
    for name, split in zip(SPLITS, (data.train, data.val, data.test), strict=True):
        write_split(split, run_dir / "data" / f"{name}.jsonl")
    write_task_info(data, suite.task, run_dir / "data")
    (run_dir / "logs").mkdir()
    record = RunRecord(run_id=run_dir.name, suite_name=suite.name, suite=suite.model_dump(),
                       suite_path=str(suite_path), profile=profile.model_dump(), environment=env,
                       data={**data.summary(), "base_model": {"path": str(base_model_dir), "sha256": base_hash}},
                       variants=tuple(v.name for v in variants), started_at=utc_now())
    return RunSetup(suite, profile, run_dir, data, base_model_dir, base_hash, record, tuple(variants))


def resume_refusal(before: dict, now: dict) -> str | None:
    """Why a run measured in environment `before` cannot be resumed in `now` (machine or package
    versions differ: its cells would not be comparable), or None."""
    differ = environment_differences(before, now)
    if not differ:
        return None
    return f"cannot resume here, the environment differs from the run's ({'; '.join(differ)}); start a new run instead"


def _reread_data(run_dir: Path, record: RunRecord) -> TaskData:
    """The run's splits, checked against the sha256 recorded when it started."""
    from bench.data import read_split

    splits = {}
    for name in SPLITS:
        split = read_split(run_dir / "data" / f"{name}.jsonl")
        if split.sha256() != record.data[name]["sha256"]:
            raise BenchError(f"{run_dir / 'data' / (name + '.jsonl')}: does not match the sha256 in run.json")
        splits[name] = split
    extra = {k: record.data[k] for k in ("positive_label", "target_range") if k in record.data}
    return TaskData(tuple(record.data["label_names"]), splits["train"], splits["val"], splits["test"],
                    record.data.get("cleaning", {}), record.data.get("kind", "classification"), extra)


def resume_run(run_dir: Path, only, console: Console, environment_now: dict | None = None) -> RunSetup:
    """Reopen a run: same suite, profile, data and model as recorded, on the same kind of machine
    (`environment_now`: that of the cluster node that will measure, else this machine's). Cells lost
    with their node (`error_kind` node_lost) are measured again; every other finished cell is kept."""
    from bench.record import load_run
    from bench.registry import check_variants

    record = load_run(run_dir)
    suite = Suite.model_validate(record.suite)
    check_variants(suite, record.suite_path)
    refusal = resume_refusal(record.environment, environment_now or collect_environment(REPO_ROOT))
    if refusal:
        raise BenchError(f"{run_dir}: {refusal}")
    data = _reread_data(run_dir, record)
    base_model_dir = Path(record.data["base_model"]["path"])
    base_hash = artifacts.model_dir_hash(base_model_dir) if base_model_dir.is_dir() else None
    if base_hash != record.data["base_model"]["sha256"]:
        raise BenchError(f"{base_model_dir}: the base model is missing or changed since the run started")
    (run_dir / "logs").mkdir(exist_ok=True)
    variants = select_variants(suite, only or list(record.variants) or None, record.suite_path)
    return RunSetup(suite, Profile.model_validate(record.profile), run_dir, data, base_model_dir, base_hash,
                    dataclasses.replace(record, status="running",
                                        cells=tuple(c for c in record.cells if c.error_kind != "node_lost")),
                    tuple(variants))
