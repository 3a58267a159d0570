"""Building a variant's chain of steps, each cached by a content key of what it was built from.

`ctx` is the runner's RunContext: suite, profile, data, base_model_dir, base_model_hash, paths,
record (its environment), console, and run_job(job, log_name, timeout_s) -> Outcome.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from bench import artifacts, jobfactory
from bench.config import Variant
from bench.executors.base import Outcome
from bench.registry import STEPS


def first_step_inputs(ctx) -> dict:
    """What the first step of every chain is built from (its cache key's root)."""
    return {"base_model_sha256": ctx.base_model_hash, "train_sha256": ctx.data.train.sha256(),
            "val_sha256": ctx.data.val.sha256(), "labels": list(ctx.data.label_names),
            "finetune": ctx.suite.finetune.model_dump(), "device": ctx.profile.device}


def step_key(ctx, step_name: str, parent_key: str | None) -> str:
    """The content key of a step: its version, params and parent (the suite's [tuning] where it tunes this
    step; and, where the artifact is valid only there, e.g. a TensorRT engine, the GPU, driver and packages)."""
    step = STEPS[step_name]
    payload = {"step": step_name, "version": step.version, "params": jobfactory.params_of_step(ctx.suite, step_name),
               "parent": parent_key or first_step_inputs(ctx)}
    tuning = jobfactory.tuning_of_step(ctx.suite, step_name)
    if tuning is not None:  # only where tuning is on: an untuned step keeps the key it always had
        payload["tuning"] = tuning
    if step.hardware_specific:
        env = ctx.record.environment
        payload["hardware"] = {"gpu_name": env.get("gpu_name"), "gpu_driver": env.get("gpu_driver"),
                               "packages": env.get("packages")}
    return artifacts.content_key(payload)


def build_chain(ctx, variant: Variant, verified: dict[str, dict]) -> tuple[Path | None, list, Outcome | None]:
    """Build (or reuse) each step of the chain; returns the artifact, the manifests, and the failing outcome."""
    parent_key, parent_dir, manifests = None, None, []
    steps = jobfactory.variant_steps(ctx.suite, variant)
    for i, step_name in enumerate(steps):
        key = step_key(ctx, step_name, parent_key)
        final = artifacts.artifact_dir(step_name, key)
        if key not in verified:
            def build(final=final, step_name=step_name, key=key, parent_dir=parent_dir):
                return build_step(ctx, step_name, key, final, parent_dir)

            manifest, outcome = artifacts.get_or_build(final, build, on_rebuild=lambda problem, final=final: ctx.console.print(
                f"[yellow]cached {final.name} is unusable ({problem}); rebuilding"))
            if manifest is None:
                return None, manifests, _own_reason(ctx, steps[i + 1:]) or outcome
            verified[key] = manifest
        manifests.append(verified[key])
        parent_key, parent_dir = key, final
    return parent_dir, manifests, None


def _own_reason(ctx, later_steps: list[str]) -> Outcome | None:
    """Where a parent's build failed and a later step of the chain cannot be built on this machine anyway
    (TensorRT absent, say): that step's `unsupported`, which is what the variant is, rather than the
    parent's failure. Asked here only where the builds run here (not on the nodes of a Ray cluster)."""
    if not later_steps or (ctx.record.environment.get("cluster") or {}).get("executor") == "ray":
        return None
    reason = next((r for r in (STEPS[s].why_unsupported(ctx.profile.device) for s in later_steps) if r), None)
    return Outcome("unsupported", reason=reason) if reason else None


def build_step(ctx, step_name: str, key: str, final: Path, parent_dir: Path | None):
    """Build one step in a worker into a staging directory and publish it with its manifest; the
    failing outcome if the worker did not succeed."""
    staging = artifacts.staging_dir(final)
    job = jobfactory.build_job(ctx.suite, ctx.profile, step_name, staging, parent_dir, ctx.base_model_dir, ctx.paths)
    outcome = ctx.run_job(job, f"build-{step_name}-{key[:12]}", ctx.suite.measure.build_timeout_s)
    if outcome.status != "ok":
        shutil.rmtree(staging, ignore_errors=True)
        return outcome
    parent = artifacts.read_manifest(parent_dir) if parent_dir else None
    built_on = {**_built_on(ctx, outcome.node), "profile": ctx.profile.name}
    manifest = artifacts.step_manifest(step_name, key, job.params, STEPS[step_name].output_format, parent, built_on,
                                       outcome.result)
    return dataclasses.replace(outcome, result=artifacts.publish(staging, final, manifest))


def _built_on(ctx, node: dict | None) -> dict:
    """The machine a build ran on: a cluster node of the run's profile (its environment is the run's), or
    this machine (for a fan-out's parent, not the run's node)."""
    if node is not None:
        env = ctx.record.environment
        return {"cpu_model": env.get("cpu_model"), "gpu_name": env.get("gpu_name"), "node": node}
    if not (ctx.record.environment.get("cluster") or {}).get("executor") == "ray":
        return {"cpu_model": ctx.record.environment.get("cpu_model"), "gpu_name": ctx.record.environment.get("gpu_name")}
    from bench.machine import detect

    here = detect()
    return {"cpu_model": here.cpu_model_name, "gpu_name": here.gpus[0].name if here.gpus else None, "node": None}
