"""The jobs the parent sends a worker: frozen, picklable dataclasses, one per kind of work.

They cross a process boundary (and, with a remote executor, a machine), so they hold plain data only:
paths as strings, settings as small frozen dataclasses. They are made in one place,
`bench.jobfactory`, from (suite, profile, variant, cell, paths). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from bench.timing import StopRule

__all__ = ["AccuracyJob", "BuildJob", "CallJob", "CellJob", "Job", "OfflineJob", "ServerJob", "ServerSettings",
           "StopRule", "job_settings"]


def _plain(value):
    """Tuples as lists, dataclasses as dicts: the form a record stores (JSON has no tuple)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class BuildJob:
    """Build one step of a variant's chain into `out_dir` (a staging directory)."""

    kind: ClassVar[str] = "build"
    step: str
    params: dict  # the step's params, validated (model_dump of its params class)
    out_dir: str
    parent_dir: str | None
    base_model_dir: str
    finetune: dict  # config.FineTune, dumped
    train_path: str
    val_path: str
    label_names: tuple[str, ...]
    device: str
    threads: int
    trust_remote_code: bool
    eval_batch_size: int
    tuning: dict | None = None  # config.Tuning dumped, metric resolved; None: train once at the step's settings


@dataclass(frozen=True)
class CellJob:
    """What every measured cell needs: the artifact, its runtime, the device and the test split."""

    kind: ClassVar[str] = ""
    settings_kept: ClassVar[tuple[str, ...]] = ()  # the fields a cell record keeps under `settings`
    runtime: str
    artifact_dir: str
    device: str
    threads: int
    test_path: str
    label_names: tuple[str, ...]
    seed: int
    gpu_isolation: str = "warn"  # off | warn | refuse (CUDA only)
    cpu_isolation: str = "warn"  # off | warn | refuse (offline cells: other processes' CPU time, steal)
    price_usd_per_kwh: float | None = None

    @property
    def scenario(self) -> str:
        return self.kind


@dataclass(frozen=True)
class AccuracyJob(CellJob):
    kind: ClassVar[str] = "accuracy"
    settings_kept: ClassVar[tuple[str, ...]] = ("max_length", "eval_batch_size")
    max_length: int = 128  # tokens per text at evaluation
    eval_batch_size: int = 64


@dataclass(frozen=True)
class OfflineJob(CellJob):
    kind: ClassVar[str] = "offline"
    settings_kept: ClassVar[tuple[str, ...]] = ("stop_rule",)
    batch_size: int = 1
    seq_len: int = 128
    stop_rule: StopRule = StopRule(warmup_iterations=5, min_iterations=20, min_duration_s=2.0, max_duration_s=60.0)  # noqa: RUF009 (frozen, safe to share)


@dataclass(frozen=True)
class ServerSettings:
    """The server sweep (config.Server, as plain data): batching settings swept, probe sizes, bisection."""

    variants: tuple[str, ...] | None = None
    max_batch_sizes: tuple[int, ...] = (4,)
    max_queue_delay_ms: tuple[float, ...] = (5.0,)
    min_queries: int = 500
    min_duration_s: float = 2.0
    relative_tolerance: float = 0.08
    max_probes: int = 7
    seed: int = 0
    repetitions: int = 3
    traffic: tuple[str, ...] = ("fixed",)
    traffic_file: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> ServerSettings:
        tuples = {k: tuple(v) for k, v in d.items() if isinstance(v, list)}
        return cls(**{**d, **tuples})


@dataclass(frozen=True)
class ServerJob(CellJob):
    kind: ClassVar[str] = "server"
    settings_kept: ClassVar[tuple[str, ...]] = ("server", "traffic")
    seq_len: int = 128
    slo_p99_ms: float = 100.0
    server: ServerSettings = ServerSettings()
    traffic: str = "fixed"  # this cell's traffic model (bench/traffic.py): fixed | real
    # real traffic from server.traffic_file: its texts, or its token lengths (None: the test split's texts)
    traffic_texts: tuple[str, ...] | None = None
    traffic_lengths: tuple[int, ...] | None = None
    fixed_qps: float | None = None  # one probe at this load instead of the bisection (`bench plan --verify`)


@dataclass(frozen=True)
class CallJob:
    """Tests only: run `target` ("module:function") in a real worker, to inject faults."""

    kind: ClassVar[str] = "call"
    target: str
    payload: tuple = ()


Job = BuildJob | AccuracyJob | OfflineJob | ServerJob | CallJob

def job_settings(job: CellJob) -> dict:
    """The measurement settings of a cell job that its record keeps, as plain data."""
    return {name: _plain(getattr(job, name)) for name in job.settings_kept}
