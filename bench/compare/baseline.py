"""The committable baseline file written by `bench baseline` and read by `bench compare`: a snapshot
(the comparable content of a run: raw samples, per-example correctness, environment, gate) as gzip JSON.

Schema history (BASELINE_SCHEMA, bump it with every field added and migrate old files in load_snapshot):
- 1: the first (2026).
- 2 (2026-11, issue #16): environment.machine (the machine identity, where the run recorded one),
  measured_on (one line) and pricing_label (where the run was priced as another machine's profile).
  Schema 1 files load with measured_on from their environment and no label.
  Accuracy cells (2026-11-30, issue #17) add kind, metric and value (the primary metric), and per
  kind: errors (regression, prediction - target; targets where the metric is Spearman), scores,
  positive_bits and predicted_bits (binary). Older entries are classifications with correct_bits.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import numpy as np

from bench.env import CHECKED_KEYS, CHECKED_PACKAGES
from bench.errors import BenchError

BASELINE_KIND = "bench-baseline"
BASELINE_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)
# what of environment["machine"] a snapshot keeps: its identity, not the machine's state
MACHINE_KEYS = ("description", "cpu_vendor", "cpu_model_name", "microarchitecture", "isa", "usable_cores",
                "memory_mib", "gpus")


def pack_bits(bits) -> str:
    """A boolean sequence as base64 of numpy.packbits (8 per byte, zero-padded): per-example
    correctness of 2,000 examples takes 336 characters."""
    return base64.b64encode(np.packbits(np.asarray(bits, dtype=bool)).tobytes()).decode()


def unpack_bits(text: str, n: int) -> np.ndarray:
    """The first `n` booleans packed by pack_bits, as a bool array of shape (n,)."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def _rounded(values, digits: int = 4) -> list[float]:
    return [round(float(x), digits) for x in (values if values is not None else [])]


def _cell_entry(c, labels: np.ndarray | None) -> dict:
    """What compare needs of one cell (read through the CellRecord views only)."""
    entry = {"variant": c.variant, "scenario": c.scenario, "batch_size": c.batch_size, "seq_len": c.seq_len,
             "status": c.status, "reason": c.reason}
    if c.status != "ok":
        return entry
    if c.scenario == "offline":
        entry.update(samples_ms=_rounded(c.latency["samples_ms"]), reference_ms=_rounded(c.latency.get("reference_ms")),
                     process_sample_counts=c.latency.get("process_sample_counts"),
                     peak_rss_mib=(c.memory or {}).get("peak_rss_mib"),
                     price_usd_per_hour=(c.cost or {}).get("price_usd_per_hour"))
    elif c.scenario == "accuracy":
        entry.update(_quality_entry(c.quality, labels))
    elif c.scenario == "server":
        entry.update(max_qps=(c.server.get("best") or {}).get("max_qps"),  # the conservative repetition's
                     repetitions_qps=(c.server.get("capacity") or {}).get("repetitions_qps"))
    return entry


def _quality_entry(q: dict, labels: np.ndarray | None) -> dict:
    """The accuracy cell's primary metric and what its kind's paired test needs (bench.compare.quality):
    correctness bits (classification; binary too), signed errors prediction - target (regression; the
    targets too where the metric is Spearman), positive-class scores, positive labels and predictions
    (binary)."""
    kind, metric = q.get("kind", "classification"), q.get("metric", "accuracy")
    entry = {"kind": kind, "metric": metric, "value": q[metric], "n_examples": q["n_examples"]}
    if "accuracy" in q:
        entry["accuracy"] = q["accuracy"]
    preds = q.get("predictions")
    if labels is None or preds is None or len(preds) != len(labels):
        return entry
    if kind == "regression":
        y = labels.astype(float)
        entry["errors"] = _rounded(np.asarray(preds, dtype=float) - y, 6)
        if metric == "spearman":
            entry["targets"] = _rounded(y, 6)
        return entry
    entry["correct_bits"] = pack_bits(np.asarray(preds) == labels)
    if kind == "binary" and q.get("scores") is not None:
        entry.update(scores=_rounded(q["scores"], 6), positive_bits=pack_bits(labels == 1),
                     predicted_bits=pack_bits(np.asarray(preds) == 1))
    return entry


def _environment(env: dict) -> dict:
    out = {**{k: env.get(k) for k in CHECKED_KEYS},
           "packages": {p: env.get("packages", {}).get(p) for p in CHECKED_PACKAGES},
           "installed_packages": env.get("installed_packages")}
    if env.get("machine"):
        out["machine"] = {k: env["machine"].get(k) for k in MACHINE_KEYS}
    return out


def snapshot_from_run(run_dir: Path) -> dict:
    """The snapshot of a run directory (its run.json, and data/test.jsonl for per-example correctness)."""
    from bench.data import read_split
    from bench.record import load_run
    from bench.report.labels import machine_description, pricing_label

    run = load_run(run_dir)
    test_path = Path(run_dir) / "data" / "test.jsonl"
    labels = np.asarray(read_split(test_path).labels) if test_path.is_file() else None
    return {"kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA, "suite_name": run.suite_name,
            "gate": run.suite.get("gate") or {},
            "profile": run.profile["name"], "run_id": run.run_id, "source": str(run_dir),
            "measured_on": machine_description(run), "pricing_label": pricing_label(run),
            "test_sha256": run.data.get("test", {}).get("sha256"),
            "environment": _environment(run.environment),
            "cells": {c.cell_id: _cell_entry(c, labels) for c in run.cells}}


def write_baseline(run_dir: Path, out: Path) -> Path:
    """Write the snapshot of `run_dir` to `out` (gzip JSON), atomically; returns `out`."""
    snap = snapshot_from_run(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(snap, f, separators=(",", ":"))
    tmp.replace(out)
    return out


def load_snapshot(path: Path) -> dict:
    """A run directory, or a baseline file written by `bench baseline` (.json.gz). Raises BenchError
    naming the path when it is neither, or when the file's schema is newer than this bench reads."""
    path = Path(path)
    if path.is_dir():
        if not (path / "run.json").is_file():
            raise BenchError(f"{path}: not a run directory (no run.json)")
        return snapshot_from_run(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such run directory or baseline file")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            snap = json.load(f)
    except (OSError, json.JSONDecodeError, EOFError) as e:
        raise BenchError(f"{path}: not a baseline file written by `bench baseline` ({e})") from None
    schema = snap.get("schema_version") if isinstance(snap, dict) else None
    if isinstance(schema, int) and snap.get("kind") == BASELINE_KIND and schema > BASELINE_SCHEMA:
        raise BenchError(f"{path}: baseline of newer schema {schema} (this bench reads up to "
                         f"{BASELINE_SCHEMA}); upgrade bench")
    if schema not in READABLE_SCHEMAS or snap.get("kind") != BASELINE_KIND:
        kind = snap.get("kind") if isinstance(snap, dict) else None
        raise BenchError(f"{path}: not a bench baseline of schema {BASELINE_SCHEMA} "
                         f"(kind {kind!r}, schema {schema!r})")
    return _migrated(snap)


def _migrated(snap: dict) -> dict:
    """A snapshot of any readable schema as the current one (schema 1: no machine, no pricing label)."""
    if snap["schema_version"] == 1:
        from bench.report.labels import environment_description

        snap = {**snap, "schema_version": 2, "measured_on": environment_description(snap.get("environment") or {}),
                "pricing_label": None}
    return snap
