"""A shared artifact store given as a URI (`bench run ... --executor ray --artifact-store URI`): the
parent puts each built artifact and test split there once, and each node fetches it into its own cache,
where the manifest's sha256 of every file is checked before use (bench/executors/ray.py). Without a
store, Ray's object store carries them.

`file:///shared/path` (a filesystem every node mounts), `s3://bucket/prefix` and `gs://bucket/prefix`,
all through fsspec (s3fs and gcsfs for the last two, where installed). An entry is complete once its
`COMPLETE` marker is written, after every file: a parent that died mid-upload leaves an entry that is
uploaded again, never one that is read half-written.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

BACKENDS = {"file": None, "s3": "s3fs", "gs": "gcsfs"}  # scheme -> the package fsspec needs for it
COMPLETE = "COMPLETE"


def open_store(uri: str, option: str = "--artifact-store") -> ArtifactStore:
    """The store at `uri`. BenchError (exit 2) naming `option` for another scheme, a missing fsspec
    or a missing backend (s3fs, gcsfs), or a file:// path that cannot be created."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in BACKENDS:
        raise BenchError(f"{option} {uri}: expected file:///shared/path, s3://bucket/prefix or gs://bucket/prefix")
    try:
        import fsspec
    except ImportError:
        raise BenchError(f"{option} {uri}: a shared artifact store needs fsspec: pip install 'bench[ray]'") from None
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except ImportError as e:
        raise BenchError(f"{option} {uri}: {scheme}:// needs {BACKENDS[scheme]} (pip install {BACKENDS[scheme]}): "
                         f"{e}") from None
    if scheme == "file":
        try:
            fs.makedirs(root, exist_ok=True)
        except OSError as e:
            raise BenchError(f"{option} {uri}: cannot create {root}: {e.strerror}") from None
    return ArtifactStore(uri, fs, root.rstrip("/"))


@dataclass
class ArtifactStore:
    uri: str
    fs: object  # an fsspec AbstractFileSystem
    root: str

    def _path(self, key: str, rel: str = "") -> str:
        return "/".join(p for p in (self.root, key, rel) if p)

    def has(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key, COMPLETE)))

    def put(self, local: Path, key: str) -> None:
        """Upload `local` (a directory, or one file) under `key`, unless a complete copy is there."""
        if self.has(key):
            return
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for path in files:
            rel = path.name if local.is_file() else path.relative_to(local).as_posix()
            self.fs.makedirs(self._path(key, rel).rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(path), self._path(key, rel))
        with self.fs.open(self._path(key, COMPLETE), "w") as f:
            f.write(f"{len(files)} files\n")

    def get(self, key: str, destination: Path) -> None:
        """Download the complete entry `key` into `destination` (a directory). BenchError if incomplete."""
        if not self.has(key):
            raise BenchError(f"artifact store {self.uri}: {key} is missing or incomplete (no {COMPLETE} marker)")
        prefix = self._path(key) + "/"
        for remote in self.fs.find(self._path(key)):
            rel = remote[remote.index(prefix) + len(prefix):] if prefix in remote else Path(remote).name
            if rel == COMPLETE:
                continue
            (destination / rel).parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote, str(destination / rel))


# --- on a node: the shipped inputs placed in this node's cache, checked by sha256 ---

SHIPPED_KINDS = ("artifact", "file", "tree")  # a cache artifact (with its manifest), one file, a plain directory


def store_key(name: str, kind: str) -> str:
    """Where a store keeps an artifact (its cache directory name), a file (its sha256) or a plain directory
    such as a base model (the content key of its files' sha256s: `tree_key`)."""
    return {"artifact": f"artifacts/{name}", "file": f"files/{name}", "tree": f"trees/{name}"}[kind]


def tree_key(directory: Path) -> str:
    """The content key of a plain directory: the sha256 of {relative path: sha256} of its files."""
    from bench.artifacts import content_key, tree_hashes

    return content_key(tree_hashes(directory))


def pack(path: Path) -> dict[str, bytes]:
    """A directory or one file as {relative path: bytes}, for Ray's object store."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def unpack(directory: Path, files: dict[str, bytes]) -> None:
    """Write `pack`'s {relative path: bytes} under `directory` (made if missing)."""
    for rel, data in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)


def _fill(directory: Path, source) -> None:
    """Write `source` into `directory`: {relative path: bytes} (Ray's object store) or (store URI, key)."""
    if isinstance(source, dict):
        unpack(directory, source)
    else:
        uri, key = source
        open_store(uri).get(key, directory)


def place_artifact(name: str, source) -> str:
    """The artifact `name` in this node's cache: used as it is if it verifies, else filled from `source`
    into a staging directory, checked against its manifest (sha256 of every file) and published by a
    rename. RuntimeError if the copy does not verify."""
    from bench import artifacts

    final = artifacts.cache_root() / "artifacts" / name
    with artifacts.build_lock(final):
        if final.exists() and artifacts.verify(final) is None:
            return str(final)
        staging = artifacts.staging_dir(final)
        _fill(staging, source)
        problem = artifacts.verify(staging)
        if problem is not None:
            raise RuntimeError(f"shipped artifact {name} does not verify on this node: {problem}")
        artifacts.publish(staging, final, artifacts.read_manifest(staging))
    return str(final)


def place_tree(key: str, source) -> str:
    """A plain directory (a base model) in this node's cache under its content key (`tree_key`), checked
    against it. RuntimeError if the copy's key differs."""
    from bench import artifacts

    final = artifacts.cache_root() / "shipped" / f"tree-{key[:32]}"
    with artifacts.build_lock(final):
        if final.is_dir() and tree_key(final) == key:
            return str(final)
        staging = artifacts.staging_dir(final)
        _fill(staging, source)
        if tree_key(staging) != key:
            raise RuntimeError(f"shipped directory {final.name} does not verify on this node: content key "
                               f"{tree_key(staging)}, expected {key}")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    return str(final)


def place(kind: str, name: str, source) -> str:
    """The shipped input `name` of `kind` (SHIPPED_KINDS) in this node's cache, checked; its local path."""
    return {"artifact": place_artifact, "file": place_file, "tree": place_tree}[kind](name, source)


def place_file(sha256: str, source) -> str:
    """The one file of `source` in this node's cache under its sha256, checked against it. RuntimeError
    if the copy's sha256 differs."""
    import tempfile

    from bench.artifacts import cache_root, file_sha256

    folder = cache_root() / "shipped" / sha256
    folder.mkdir(parents=True, exist_ok=True)
    existing = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if existing and file_sha256(existing[0]) == sha256:
        return str(existing[0])
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        _fill(Path(tmp), source)
        (copy,) = Path(tmp).iterdir()
        if file_sha256(copy) != sha256:
            raise RuntimeError(f"shipped file {copy.name} does not verify on this node: sha256 {file_sha256(copy)}, "
                               f"expected {sha256}")
        os.replace(copy, folder / copy.name)
    return str(folder / copy.name)
