"""The checked registry of build steps and runtimes (peft's `register_peft_method`, made strict), and
what a suite's variants resolve to in it.

A *variant* is a chain of build steps (e.g. ["full", "onnx", "int8"]); each step turns its parent
artifact into a new one. A *runtime* loads and executes an artifact of a given format. Both are
found by name: step and runtime modules register into bench.specs on import, `load_all` imports them
all, and naming an unknown one is an error at suite-validation time (`check_variants`). Step and runtime
modules import nothing heavy at module level, so the registry (and so `bench --help` and suite
validation) loads without torch. bench.config knows nothing of this module; it sits above config.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from bench.config import ConfigError, Suite, Variant, describe_validation_error, override_source, read_suite
from bench.specs import (  # others read them from here
    CONVERTER_FOR_FORMAT,
    DEFAULT_RUNTIME_FOR_FORMAT,
    ROOT_STEP,
    RUNTIMES,
    STEPS,
)


def load_all() -> None:
    """Import every step and runtime module so that the registry is complete."""
    import bench.runtimes
    import bench.steps  # noqa: F401


def expand_chain(names: list[str]) -> list[str]:
    """Insert the parents a "+"-named chain leaves implicit: "distilled+int8" is
    full -> distilled -> onnx -> int8, "distilled+openvino-int8" full -> distilled -> openvino ->
    openvino-int8 (bench.specs.CONVERTER_FOR_FORMAT). Unknown names are left for validation to report."""
    out: list[str] = []
    fmt: str | None = None
    for name in names:
        step = STEPS.get(name)
        if step is not None and step.input_formats:
            if fmt is None:
                out.append(ROOT_STEP)
                fmt = STEPS[ROOT_STEP].output_format
            converter = _implicit_converter(fmt, step.input_formats)
            if converter is not None:
                out.append(converter)
                fmt = STEPS[converter].output_format
        out.append(name)
        fmt = step.output_format if step is not None else fmt
    return out


def _implicit_converter(fmt: str, wanted: frozenset[str]) -> str | None:
    """The step to insert between a Hugging Face artifact and a step that cannot take one, or None."""
    if fmt != "hf" or fmt in wanted:
        return None
    return next((CONVERTER_FOR_FORMAT[f] for f in sorted(wanted) if f in CONVERTER_FOR_FORMAT), None)


@dataclass(frozen=True)
class ResolvedVariant:
    """A variant as the registry sees it: the full build chain, the runtime and each step's parameters.

    `params[step]` is the step's parameter model dumped to a dict, defaults filled in (JSON-ready, as it
    goes into the artifact's content key and the build job). Treat it as read-only.
    """

    name: str
    steps: tuple[str, ...]
    runtime: str
    params: dict[str, dict]


def _chain_of(variant: Variant) -> list[str]:
    """The build chain: `chain` as written, or the name split on "+" with implicit parents added."""
    if variant.chain:
        return list(variant.chain)
    load_all()
    return expand_chain(variant.name.split("+"))


def resolve_variant(suite: Suite, variant: Variant) -> ResolvedVariant:
    """Resolve a variant of a suite that `check_variants` has accepted (else KeyError/ValidationError)."""
    load_all()
    steps = tuple(_chain_of(variant))
    runtime = variant.runtime or DEFAULT_RUNTIME_FOR_FORMAT[STEPS[steps[-1]].output_format]
    params = {name: STEPS[name].params.model_validate(suite.steps.get(name, {})).model_dump() for name in steps}
    return ResolvedVariant(name=variant.name, steps=steps, runtime=runtime, params=params)


def check_variants(suite: Suite, path: str) -> None:
    """Every variant's chain, runtime and step parameters against the registry.

    Raises ConfigError naming `path`, the variant (or `steps.<name>` key) and what was expected.
    """
    load_all()
    for i, variant in enumerate(suite.variants):
        fmt = _check_chain(_chain_of(variant), f"variants[{i}] ('{variant.name}')", path)
        _check_runtime(variant.runtime or DEFAULT_RUNTIME_FOR_FORMAT[fmt], fmt,
                       f"variants[{i}] ('{variant.name}')", path)
    for step_name, params in suite.steps.items():
        _check_step_params(step_name, params, path)


def _check_chain(chain: list[str], where: str, path: str) -> str:
    """Each step known and able to take its parent's artifact; returns the last artifact's format."""
    fmt = None
    for j, step_name in enumerate(chain):
        step = STEPS.get(step_name)
        if step is None:
            hint = difflib.get_close_matches(step_name, STEPS, n=1)
            raise ConfigError(path, f"{where}: unknown build step '{step_name}'"
                              + (f" (did you mean '{hint[0]}'?)" if hint else "")
                              + f"; known steps: {', '.join(sorted(STEPS))}")
        if j == 0 and step.input_formats:
            raise ConfigError(path, f"{where}: step '{step_name}' needs a built parent "
                              f"(one of formats {sorted(step.input_formats)}); start the chain with e.g. '{ROOT_STEP}'")
        if j > 0 and fmt not in step.input_formats:
            raise ConfigError(path, f"{where}: step '{step_name}' cannot follow a '{fmt}' artifact "
                              f"(it takes {sorted(step.input_formats) or 'the base model only'})")
        fmt = step.output_format
    return fmt


def _check_runtime(runtime: str, fmt: str, where: str, path: str) -> None:
    if runtime not in RUNTIMES:
        raise ConfigError(path, f"{where}: unknown runtime '{runtime}'; known: {', '.join(sorted(RUNTIMES))}")
    if fmt not in RUNTIMES[runtime].formats:
        raise ConfigError(path, f"{where}: runtime '{runtime}' cannot load a '{fmt}' artifact")


def _check_step_params(step_name: str, params: dict, path: str) -> None:
    if step_name not in STEPS:
        raise ConfigError(path, f"steps.{step_name}: unknown build step; known: {', '.join(sorted(STEPS))}")
    try:
        STEPS[step_name].params.model_validate(params)
    except ValidationError as e:
        msg = describe_validation_error(path, STEPS[step_name].params, e).split(": ", 1)[1]
        # the step's model names its own keys; the user wrote them under [steps.<name>]
        raise ConfigError(path, re.sub(r"'([^']*)'", lambda m: f"'steps.{step_name}.{m.group(1)}'", msg, count=1)) from None


def load_suite(name_or_path: str, overrides: list[str] | None = None) -> tuple[Suite, Path]:
    """A suite read and validated by bench.config, then its variant chains checked against the registry.

    Raises ConfigError (file not found, bad TOML, a bad key or value, an unknown step or runtime).
    """
    from bench.tuning import optuna_missing

    suite, path = read_suite(name_or_path, overrides)
    load_all()
    for step_name, params in suite.steps.items():  # a bad step parameter may come from a --set
        _check_step_params(step_name, params, override_source(str(path), overrides or [], ("steps", step_name)))
    check_variants(suite, str(path))
    if reason := optuna_missing(suite.tuning):
        raise ConfigError(str(path), reason)
    return with_traffic_file(suite, path), path


def with_traffic_file(suite: Suite, path: Path) -> Suite:
    """The suite with server.traffic_file made absolute (it is relative to the suite file) and checked
    (bench.traffic.read_traffic_file: ConfigError naming the file and line), so a run refuses a bad file
    before anything is built and the stored suite finds it again on --resume."""
    from bench.traffic import read_traffic_file

    name = suite.server.traffic_file
    if name is None:
        return suite
    file = (path.parent / name).resolve()
    read_traffic_file(file)
    return suite.model_copy(update={"server": suite.server.model_copy(update={"traffic_file": str(file)})})
