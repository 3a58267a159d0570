"""The one place jobs are made: from (suite, profile, variant, cell, paths) for a run, or from a stored
run for re-measuring (`bench plan --verify`, benchmarks/). Variant resolution (the registry's
`resolve_variant`: steps, runtime, parameters) is asked here and nowhere else in the measuring wing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from bench.config import Profile, Suite, Variant
from bench.jobspec import BuildJob, CellJob
from bench.record import CellRecord, RunRecord
from bench.registry import resolve_variant
from bench.scenarios import SCENARIOS, PlannedCell


@dataclass(frozen=True)
class JobPaths:
    """Where a run keeps its inputs: `run_dir/data/{train,val,test}.jsonl`; and what every job shares."""

    run_dir: Path
    label_names: tuple[str, ...]
    threads: int

    def split(self, name: str) -> str:
        return str(self.run_dir / "data" / f"{name}.jsonl")


def variant_steps(suite: Suite, variant: Variant) -> tuple[str, ...]:
    return resolve_variant(suite, variant).steps


def params_of_step(suite: Suite, step_name: str) -> dict:
    from bench.registry import STEPS

    return STEPS[step_name].params.model_validate(suite.steps.get(step_name, {})).model_dump()


def tuning_of_step(suite: Suite, step_name: str) -> dict | None:
    """The suite's [tuning] for this step (its metric resolved), or None where tuning is off or the step
    does not train: then neither its job nor its cache key changes."""
    from bench.registry import STEPS

    if suite.tuning is None or not suite.tuning.active or not STEPS[step_name].trains:
        return None
    return {**suite.tuning.model_dump(), "metric": suite.tuning_metric()}


def runtime_of_variant(suite: Suite, variant: Variant) -> str:
    return resolve_variant(suite, variant).runtime


def build_job(suite: Suite, profile: Profile, step_name: str, out_dir: Path, parent_dir: Path | None,
              base_model_dir: Path, paths: JobPaths) -> BuildJob:
    return BuildJob(step=step_name, params=params_of_step(suite, step_name), out_dir=str(out_dir),
                    parent_dir=str(parent_dir) if parent_dir else None, base_model_dir=str(base_model_dir),
                    finetune=suite.finetune.model_dump(), train_path=paths.split("train"),
                    val_path=paths.split("val"), label_names=paths.label_names, device=profile.device,
                    threads=paths.threads, trust_remote_code=suite.model.trust_remote_code,
                    eval_batch_size=suite.measure.eval_batch_size, tuning=tuning_of_step(suite, step_name))


def plan_cells(suite: Suite, variant: Variant) -> list[PlannedCell]:
    """Every cell of a variant, scenario by scenario in measuring order."""
    return [cell for scenario in SCENARIOS.values() for cell in scenario.plan_cells(suite, variant)]


def cell_job(suite: Suite, profile: Profile, variant: Variant, cell: PlannedCell, artifact_dir: Path,
             paths: JobPaths) -> CellJob:
    common = dict(runtime=runtime_of_variant(suite, variant), artifact_dir=str(artifact_dir), device=profile.device,
                  threads=paths.threads, test_path=paths.split("test"), label_names=paths.label_names,
                  seed=suite.task.seed, gpu_isolation=suite.measure.gpu_isolation,
                  cpu_isolation=suite.measure.cpu_isolation,
                  price_usd_per_kwh=profile.price_usd_per_kwh)
    return SCENARIOS[cell.scenario].make_job(suite, cell, common)


def stored_cell_job(run: RunRecord, run_dir: Path, cell: CellRecord, **changes) -> CellJob:
    """The job `bench run` gave a stored cell (same artifact, runtime, threads and settings), with
    `changes` (dataclass fields of the job) applied. KeyError if the run has no such variant."""
    suite, profile = Suite.model_validate(run.suite), Profile.model_validate(run.profile)
    variant = next(v for v in suite.variants if v.name == cell.variant)
    paths = JobPaths(Path(run_dir), tuple(run.data["label_names"]), cell.settings["threads"])
    planned = PlannedCell(cell.scenario, cell.batch_size, cell.seq_len if cell.batch_size is not None else None,
                          (cell.settings or {}).get("traffic"))
    job = cell_job(suite, profile, variant, planned, Path(run.builds[cell.variant]["artifact_dir"]), paths)
    return dataclasses.replace(job, runtime=cell.runtime, **changes)
