"""The shared artifact store (bench/artifact_store.py) without a cluster: what the parent puts under a
file:// URI reaches a node's cache checked by sha256 (a tampered copy is refused), an entry without its
COMPLETE marker is never read, and a scheme without its backend is a clear exit-2 message."""

from __future__ import annotations

import importlib.util

import pytest

from bench import artifacts
from bench.artifact_store import COMPLETE, open_store, place_artifact, place_file, store_key
from bench.errors import EXIT_BAD_INPUT, BenchError


def _artifact(root) -> tuple:
    """A published artifact in the parent's cache: (its directory, its name)."""
    final = root / "parent-cache" / "artifacts" / "full-0123456789abcdef"
    staging = artifacts.staging_dir(final)
    (staging / "model.safetensors").write_bytes(b"weights" * 100)
    (staging / "tokenizer" / "vocab.txt").parent.mkdir()
    (staging / "tokenizer" / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    artifacts.publish(staging, final, {"step": "full", "key": "0123456789abcdef"})
    return final, final.name


def test_an_artifact_put_in_a_file_store_reaches_a_node_cache_verified(tmp_path, monkeypatch):
    final, name = _artifact(tmp_path)
    store = open_store(f"file://{tmp_path / 'shared'}")
    store.put(final, store_key(name, "artifact"))
    assert (tmp_path / "shared" / "artifacts" / name / COMPLETE).is_file()
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "node-cache"))
    placed = place_artifact(name, (store.uri, store_key(name, "artifact")))
    assert placed == str(tmp_path / "node-cache" / "artifacts" / name) and artifacts.verify(final) is None
    assert artifacts.tree_hashes(final) == artifacts.tree_hashes(tmp_path / "node-cache" / "artifacts" / name)


def test_a_tampered_copy_in_the_store_is_refused_on_the_node(tmp_path, monkeypatch):
    final, name = _artifact(tmp_path)
    store = open_store(f"file://{tmp_path / 'shared'}")
    store.put(final, store_key(name, "artifact"))
    (tmp_path / "shared" / "artifacts" / name / "model.safetensors").write_bytes(b"other weights")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "node-cache"))
    with pytest.raises(RuntimeError, match=r"model\.safetensors does not match its recorded sha256"):
        place_artifact(name, (store.uri, store_key(name, "artifact")))
    assert not (tmp_path / "node-cache" / "artifacts" / name).exists()


def test_a_file_travels_under_its_sha256_and_a_wrong_one_is_refused(tmp_path, monkeypatch):
    split = tmp_path / "test.parquet"
    split.write_bytes(b"rows" * 50)
    sha = artifacts.file_sha256(split)
    store = open_store(f"file://{tmp_path / 'shared'}")
    store.put(split, store_key(sha, "file"))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "node-cache"))
    placed = place_file(sha, (store.uri, store_key(sha, "file")))
    assert placed.endswith(f"{sha}/test.parquet") and artifacts.file_sha256(split) == sha
    with pytest.raises(RuntimeError, match="does not verify on this node"):
        place_file("0" * 64, (store.uri, store_key(sha, "file")))


def test_an_entry_without_its_marker_is_not_read_and_is_uploaded_again(tmp_path):
    final, name = _artifact(tmp_path)
    store = open_store(f"file://{tmp_path / 'shared'}")
    store.put(final, store_key(name, "artifact"))
    (tmp_path / "shared" / "artifacts" / name / COMPLETE).unlink()  # a parent that died mid-upload
    with pytest.raises(BenchError, match="missing or incomplete"):
        store.get(store_key(name, "artifact"), tmp_path / "out")
    store.put(final, store_key(name, "artifact"))
    assert store.has(store_key(name, "artifact"))


@pytest.mark.parametrize("uri, words", [
    ("ftp://host/x", "expected file:///shared/path, s3://bucket/prefix or gs://bucket/prefix"),
    ("/plain/path", "expected file:///shared/path"),
])
def test_a_bad_store_uri_is_exit_2_naming_the_option(uri, words):
    with pytest.raises(BenchError) as refused:
        open_store(uri)
    assert refused.value.exit_code == EXIT_BAD_INPUT and "--artifact-store" in str(refused.value)
    assert words in str(refused.value)


@pytest.mark.parametrize("scheme, backend", [("s3", "s3fs"), ("gs", "gcsfs")])
def test_a_cloud_store_without_its_backend_says_what_to_install(scheme, backend):
    if importlib.util.find_spec(backend) is not None:
        pytest.skip(f"{backend} is installed here: {scheme}:// opens")
    with pytest.raises(BenchError) as refused:
        open_store(f"{scheme}://bucket/prefix")
    assert refused.value.exit_code == EXIT_BAD_INPUT
    assert f"pip install {backend}" in str(refused.value) and f"{scheme}://bucket/prefix" in str(refused.value)


def test_without_fsspec_the_store_is_refused_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "fsspec", None)  # import fsspec raises ImportError
    with pytest.raises(BenchError, match=r"needs fsspec: pip install 'bench\[ray\]'"):
        open_store("file:///tmp/store")
