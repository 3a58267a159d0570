"""The artifact cache: one directory per built step, keyed by a hash of everything that made it.

A build writes into a private temp directory and is published by one atomic rename, under a file
lock so concurrent runs sharing the cache build once. Every published artifact carries a manifest
with the sha256 of each file; an artifact whose files do not match is rebuilt, never used.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

MANIFEST = "manifest.json"


def cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench")


def content_key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hashes(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): file_sha256(p)
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != MANIFEST}


def model_dir_hash(directory: Path) -> str:
    """Hash of a model directory's config and weights (what decides its outputs)."""
    h = hashlib.sha256()
    for p in sorted(directory.iterdir()):
        if p.is_file() and (p.suffix in (".safetensors", ".onnx", ".json", ".txt") or p.name.endswith(".data")):
            h.update(p.name.encode())
            h.update(file_sha256(p).encode())
    return h.hexdigest()


def artifact_dir(step: str, key: str) -> Path:
    return cache_root() / "artifacts" / f"{step}-{key[:16]}"


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def verify(directory: Path) -> str | None:
    """None if the artifact is complete and intact, else what is wrong."""
    manifest = read_manifest(directory)
    if manifest is None:
        return "no readable manifest"
    for name, digest in manifest.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            return f"file {name} is missing"
        if file_sha256(path) != digest:
            return f"file {name} does not match its recorded sha256"
    return None


@contextmanager
def build_lock(directory: Path):
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def staging_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))


def step_manifest(step: str, key: str, params: dict, output_format: str, parent: dict | None,
                  built_on: dict, build_result: dict) -> dict:
    """What a built step's manifest records (publish adds the file hashes and the size on disk)."""
    return {"step": step, "key": key, "params": params, "format": output_format,
            "parent": parent["key"] if parent else None, "chain": (parent["chain"] if parent else []) + [step],
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "built_on": built_on,
            **build_result}


def publish(staging: Path, final: Path, manifest: dict) -> dict:
    """Write the manifest (with file hashes) into `staging` and rename it to `final`."""
    manifest = {**manifest, "files": tree_hashes(staging),
                "size_on_disk_bytes": sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if final.exists():  # a stale or corrupt copy that verify() rejected
        shutil.rmtree(final)
    os.rename(staging, final)
    return manifest


def get_or_build(final: Path, build, on_rebuild=lambda problem: None):
    """The verified manifest of `final`, building it first if it is absent or damaged.

    `build()` returns an outcome whose `.status` is "ok" with `.result` the published manifest, or
    another status; the lock makes concurrent runs build once and see each other's result.
    Returns (manifest, None) or (None, failed outcome).
    """
    with build_lock(final):
        problem = verify(final) if final.exists() else None
        if final.exists() and problem is None:
            return read_manifest(final), None
        if problem is not None:
            on_rebuild(problem)
        outcome = build()
        if outcome.status != "ok":
            return None, outcome
        return outcome.result, None
