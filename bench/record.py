"""The one thing bench serializes: the run record (run.json), schema-versioned (pyperf's habit).

A run holds the resolved suite and profile, the environment it was measured in, the data and model
hashes, one build entry per variant and one record per measured cell. Cell records keep raw samples;
summaries are recomputed from them. Writes are atomic (temp file, fsync, rename), so a reader sees
either the previous complete file or the new one, never half of it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ResultsError
from bench.results import ProcessResult, pooled_latency, split_pooled_latency

# Schema history (load_run migrates every older version, one step at a time):
#   1 (until 2026-11): a cell stored one pooled `latency` dict; several processes were joined into it,
#     with `process_sample_counts` and `process_warmup_counts` to cut them back.
#   2 (2026-11-30): a cell stores `processes`, one dict per worker process (ProcessResult); the pooled
#     `latency` is derived from them on load and no longer written. A cell has `warnings` (what makes its
#     figures weaker: no warm-up, a p99 from few samples, more threads than cores, a busy CPU or GPU);
#     environment["machine"] and environment["profile_check"] say what it ran on and what it is priced as.
#     (2026-11-30, issue #17, still 2) task kinds: the suite has task.kind (classification | regression |
#     binary), text_pair_column, label_map, positive_label, clip_predictions and slo.quality_floor; an
#     accuracy cell's `quality` names its `kind` and primary `metric` and holds `primary` / `primary_ci95`
#     and each of the kind's metrics with `<metric>_ci95` (regression: rmse, mae, spearman, clipped_to,
#     float predictions; binary: pr_auc, roc_auc, f1, recall, threshold, threshold_chosen_on,
#     positive_label, positives, scores); data/task.json in the run directory. A record without them
#     (schema 1, or 2 before this) is a classification judged on accuracy (bench/report/quality.py).
#     (2026-11-30, same version) A run measured on a Ray cluster node (issue #19) has environment["cluster"]
#     (executor, address, profile resource, node id, simulated) and its environment is the node's; a cell
#     whose node died has error_kind "node_lost" (its reason names the node); --resume measures it again.
#     (2026-11-30, same version) The nodes of one profile measure side by side: a cluster cell's
#     settings["nodes"] names the node of each of its processes ({"node_id", "host", "address"}, in the
#     order they ran) and environment["cluster"]["nodes"] lists the profile's nodes at the start;
#     environment["cluster"]["fanout_run_ids"] names the run directories of every profile of the fan-out
#     (beside this one) and ["artifact_store"] the URI the artifacts went through (None: Ray's object store).
#     (2026-11-30, same version, issue #20) A server cell is `settings["processes"]` independent peak
#     searches (server.repetitions): `server["repetitions"]` keeps each one's sweep ({"repetition", "settings",
#     "best"}), `server["capacity"]` has repetitions_qps, conservative_qps (the lowest; the cell's throughput
#     and cost), typical_qps (the median), their rules and the count, and `server["conservative_repetition"]`
#     names the repetition whose settings and best stand at the top of `server`. `server["traffic"]` names
#     the traffic model (fixed | real), describes it and gives the requests' token lengths (p50, p99, max);
#     a real-traffic cell is "<variant>/server-real" and keeps settings["traffic"]. A server cell without
#     them (before this) is one repetition of fixed-length traffic (bench/server.py capacity_of).
#     (2026-11-30, issue #21, same version) The suite may have [tuning] (trials, sampler,
#     learning_rate_factors, epoch_factors, metric, seed). A trained step's manifest (builds[v]["manifests"])
#     then has `tuning`: sampler, budget, metric, split, direction, base_learning_rate, base_epochs, the
#     factors, seed, `trials` ([{trial, learning_rate_factor, epoch_factor, learning_rate, epochs, value,
#     train_wall_s, steps}]), `chosen` (a trial index) and wall_s; its `train` is the chosen trial's.
#     Without it the step was trained once at its own settings.
SCHEMA_VERSION = 2
STATUSES = ("ok", "failed", "unsupported")
SCENARIOS = ("accuracy", "offline", "server")


@dataclass(frozen=True)
class CellRecord:
    cell_id: str  # "<variant>/<scenario>[/bs<batch>/seq<len>]"
    variant: str
    steps: tuple[str, ...]
    runtime: str
    scenario: str
    status: str
    batch_size: int | None = None
    seq_len: int | None = None
    reason: str | None = None  # why failed or unsupported
    error_kind: str | None = None  # exception | signal | timeout | oom | build_failed | device_busy | cpu_busy | node_lost
    error_tail: str | None = None  # last lines of the worker's output
    # derived, not stored: the pooled view of `processes` (results.pooled_latency): samples_ms, warmup_ms,
    # stopped_by, summary (ms), process_sample_counts, ... Given alone (schema 1, tests), it is cut into processes.
    latency: dict | None = None
    throughput_samples_per_s: float | None = None
    memory: dict | None = None  # peak_rss_mib, rss_after_load_mib, ...
    quality: dict | None = None  # accuracy cell: accuracy, macro_f1, CIs, predictions, eval_max_length
    cost: dict | None = None  # usd_per_million, price_usd_per_hour
    energy: dict | None = None  # offline: NVML energy per inference on CUDA, or "not measured" and why
    isolation: dict | None = None  # CUDA: other processes on the GPU before, during and after the cell
    server: dict | None = None  # server scenario: settings swept, probes, best setting (bench/server.py)
    model: dict | None = None  # parameters, size_on_disk_mib
    settings: dict | None = None  # stop rule, threads, device, clock
    started_at: str | None = None
    wall_s: float | None = None
    processes: tuple[ProcessResult, ...] = ()  # one per worker process, in the order they ran
    warnings: tuple[str, ...] = ()  # what weakens this cell's figures, one sentence each (bench/cells.py)

    def __post_init__(self):
        self._validate()
        processes = tuple(ProcessResult.from_dict(p) if isinstance(p, dict) else p for p in self.processes)
        if self.latency is not None and (not processes or self.latency != pooled_latency(processes)):
            try:
                processes = split_pooled_latency(self.latency)
            except ValueError as e:
                raise ValueError(f"cell {self.cell_id}: {e}") from None
        object.__setattr__(self, "processes", processes)
        object.__setattr__(self, "latency", pooled_latency(processes))

    @property
    def traffic(self) -> str | None:
        """A server cell's traffic model ("fixed", "real"): as its record says, else from its id (an
        unsupported or failed cell has no server record), "fixed" for ids from before traffic models."""
        if self.scenario != "server":
            return None
        recorded = ((self.server or {}).get("traffic") or {}).get("name")
        scenario_part = self.cell_id.split("/")[1] if "/" in self.cell_id else "server"
        return recorded or (scenario_part.split("-", 1)[1] if "-" in scenario_part else "fixed")

    def _validate(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"cell {self.cell_id}: status must be one of {STATUSES}, got {self.status!r}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"cell {self.cell_id}: scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.status != "ok" and not self.reason:
            raise ValueError(f"cell {self.cell_id}: a {self.status} cell needs a reason")

    def to_dict(self) -> dict:
        """As stored (schema 2): the processes, not the derived pooled latency."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "latency"}
        d["steps"] = list(self.steps)
        d["processes"] = [p.to_dict() for p in self.processes]
        d["warnings"] = list(self.warnings)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CellRecord:
        """Raises ValueError naming unknown fields."""
        known = {f.name for f in dataclasses.fields(cls)} - {"latency"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return cls(**{**d, "steps": tuple(d.get("steps", ())), "processes": tuple(d.get("processes", ())),
                      "warnings": tuple(d.get("warnings", ()))})


def cell_id(variant: str, scenario: str, batch_size: int | None = None, seq_len: int | None = None,
            traffic: str | None = None) -> str:
    """"<variant>/<scenario>", "<variant>/offline/bs<b>/seq<s>"; a server cell of a traffic model other
    than fixed-length is "<variant>/server-<traffic>" (e.g. "int8/server-real")."""
    if batch_size is not None:
        return f"{variant}/{scenario}/bs{batch_size}/seq{seq_len}"
    return f"{variant}/{scenario}" + (f"-{traffic}" if traffic not in (None, "fixed") else "")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    suite_name: str
    suite: dict
    suite_path: str
    profile: dict
    environment: dict
    data: dict = field(default_factory=dict)
    variants: tuple[str, ...] = ()  # the variants this run measures (the suite's, or those given with --only)
    builds: dict = field(default_factory=dict)  # variant -> build manifest or failure
    cells: tuple[CellRecord, ...] = ()
    status: str = "running"  # running | finished | interrupted
    started_at: str = ""
    finished_at: str | None = None
    schema_version: int = SCHEMA_VERSION

    def with_cell(self, cell: CellRecord) -> RunRecord:
        kept = tuple(c for c in self.cells if c.cell_id != cell.cell_id)
        return dataclasses.replace(self, cells=(*kept, cell))

    def cell(self, cid: str) -> CellRecord | None:
        return next((c for c in self.cells if c.cell_id == cid), None)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["cells"] = [c.to_dict() for c in self.cells]
        d["variants"] = list(self.variants)
        return d

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=1, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> RunRecord:
        d = dict(d)
        d["cells"] = tuple(CellRecord.from_dict(c) for c in d.get("cells", []))
        d["variants"] = tuple(d.get("variants", ()))
        return cls(**d)


def _finite(obj: Any) -> Any:
    """JSON has no inf/nan: store them as null (e.g. the cost of a cell with zero throughput)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def file_mode() -> int:
    """The mode a plain new file gets here (0o666 less the umask, 0o644 typically): mkstemp's files are 0600.
    The umask is read from /proc/self/status (Linux); elsewhere set and put back at once."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
        umask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename (never half-written),
    with the mode an ordinary new file gets (file_mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_run(run_dir: Path, run: RunRecord) -> None:
    write_atomic(run_dir / "run.json", run.to_json())


def load_run(path: Path | str) -> RunRecord:
    """Load run.json (or the run directory holding it), branching on schema_version."""
    path = Path(path)
    if path.is_dir():
        path = path / "run.json"
    elif path.suffix.lower() in (".toml", ".csv", ".md", ".html", ".jsonl", ".parquet"):
        raise ResultsError(f"{path}: a {path.suffix.lstrip('.').upper()} file, not a run; give a run directory "
                           "written by `bench run` (results/<suite>/<run id>) or its run.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found; expected a run directory written by `bench run`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e}); the file is truncated or was edited by hand") from None
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise ResultsError(f"{path}: no 'schema_version'; this is not a bench run record")
    version = raw["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise ResultsError(f"{path}: schema_version {version!r} is not a version bench ever wrote")
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {version} is a newer schema than this bench reads "
                           f"({SCHEMA_VERSION}); upgrade bench to read it")
    try:
        for step in range(version, SCHEMA_VERSION):
            raw = MIGRATIONS[step](raw)
        return RunRecord.from_dict(raw)
    except (TypeError, ValueError, KeyError) as e:
        raise ResultsError(f"{path}: malformed run record (schema_version {version}): {e}") from None


def _migrate_1_to_2(raw: dict) -> dict:
    """Schema 1 -> 2: each cell's pooled latency cut into its processes by process_sample_counts."""
    cells = []
    for cell in raw.get("cells", []):
        cell = dict(cell)
        latency = cell.pop("latency", None)
        try:
            cell["processes"] = [p.to_dict() for p in split_pooled_latency(latency)]
        except ValueError as e:
            raise ValueError(f"cell {cell.get('cell_id')}: {e}") from None
        cells.append(cell)
    return {**raw, "cells": cells, "schema_version": 2}


MIGRATIONS = {1: _migrate_1_to_2}  # version -> the function that lifts a raw record to the next one
