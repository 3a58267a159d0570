"""One whole `bench compare`: the gate it used, the verdicts, the problems that make it unusable, and
what differs between the two environments. What cli.compare prints and writes is built from this."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from bench.compare.judge import MetricChange, compare_snapshots, exit_code
from bench.config import Gate
from bench.env import CHECKED_PACKAGES, environment_differences
from bench.errors import BenchError

# the `bench compare` option that sets each Gate field, to name it in an error
GATE_OPTIONS = {"max_slowdown": "--max-slowdown", "max_memory_growth": "--max-memory-growth",
                "accuracy_tolerance_points": "--accuracy-tolerance", "error_tolerance": "--error-tolerance",
                "alpha": "--alpha", "correction": "--correction"}
ENVIRONMENTS_REFUSED = "measured in different environments (see below); pass --allow-different-env to compare anyway"


def _first_error(e: ValidationError) -> tuple[str, str]:
    err = e.errors()[0]
    return ".".join(str(x) for x in err["loc"]), err["msg"]


def gate_for(snapshot: dict, overrides: dict[str, object] | None = None, source: str = "new run") -> Gate:
    """The suite's [gate] stored with `snapshot` (defaults where it has none), with `overrides` (Gate
    field -> value; None = not given) from the command line on top, validated. Raises BenchError naming
    `source`'s gate key or the command-line option."""
    try:
        gate = Gate.model_validate(snapshot.get("gate") or {})
    except ValidationError as e:
        key, msg = _first_error(e)
        raise BenchError(f"{source}: gate.{key}: {msg}") from None
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:  # model_copy does not validate: validate its dump
        return Gate.model_validate(gate.model_copy(update=given).model_dump())
    except ValidationError as e:
        key, msg = _first_error(e)
        raise BenchError(f"{GATE_OPTIONS.get(key, key)} {given.get(key)!r}: {msg}") from None


def snapshot_differences(base: dict, new: dict) -> list[str]:
    """bench.env.environment_differences of the two snapshots' environments, and the profile: any line
    here refuses the comparison unless --allow-different-env."""
    out = environment_differences(base.get("environment") or {}, new.get("environment") or {})
    if base["profile"] != new["profile"]:
        out.append(f"profile: {base['profile']} -> {new['profile']}")
    return out


def environment_notes(base: dict, new: dict) -> list[str]:
    """Installed packages that differ beyond the checked ones (which refuse the comparison): reported,
    not refused, since a rebuilt CI environment may pick up a new patch release of anything. Empty where
    either snapshot has no full list (older records)."""
    pa = base.get("environment", {}).get("installed_packages")
    pb = new.get("environment", {}).get("installed_packages")
    if not pa or not pb:
        return []
    checked = {p.lower() for p in CHECKED_PACKAGES}
    only_a = [f"{n} {v}" for n, v in pa.items() if n not in pb and n not in checked]
    only_b = [f"{n} {v}" for n, v in pb.items() if n not in pa and n not in checked]
    changed = [f"{n} {pa[n]} vs {pb[n]}" for n in pa if n in pb and pa[n] != pb[n] and n not in checked]
    out = []
    if only_a:
        out.append(f"installed only where the baseline ran: {', '.join(only_a)}")
    if only_b:
        out.append(f"installed only where the new run ran: {', '.join(only_b)}")
    if changed:
        out.append(f"other package versions differ: {', '.join(changed)}")
    return out


@dataclass(frozen=True)
class Comparison:
    base: dict  # the baseline snapshot
    new: dict  # the new snapshot
    gate: Gate
    changes: list[MetricChange]  # per cell and metric, in the baseline's cell order
    problems: list[str]  # any one makes the comparison unusable (exit 2)
    differences: list[str]  # environment differences ("key: A -> B")
    notes: list[str]  # other installed packages that differ (not refused)
    exit_code: int  # 0 no regression, 1 regression, 2 unusable

    def to_dict(self, baseline_label: str, new_label: str) -> dict:
        """compare.json: the inputs as given on the command line, the gate, and every verdict."""
        return {"baseline": baseline_label, "new": new_label, "thresholds": self.gate.model_dump(),
                "exit_code": self.exit_code, "problems": self.problems,
                "environment_differences": self.differences, "environment_notes": self.notes,
                "measured_on": {"baseline": self.base.get("measured_on"), "new": self.new.get("measured_on")},
                "pricing_labels": {"baseline": self.base.get("pricing_label"), "new": self.new.get("pricing_label")},
                "changes": [c.to_dict() for c in self.changes]}


def compare(base: dict, new: dict, gate: Gate, allow_different_env: bool = False) -> Comparison:
    """Compare snapshot `new` with the baseline snapshot `base` under `gate`. Differing environments are
    a problem (exit 2) unless `allow_different_env`; they are listed either way."""
    changes, problems = compare_snapshots(base, new, gate)
    differences = snapshot_differences(base, new)
    if differences and not allow_different_env:
        problems.append(ENVIRONMENTS_REFUSED)
    return Comparison(base, new, gate, changes, problems, differences, environment_notes(base, new),
                      exit_code(changes, problems))
