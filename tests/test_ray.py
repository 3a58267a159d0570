"""A suite fanned out over one local Ray cluster (ray.cluster_utils.Cluster, started once for the module)
of simulated nodes: two of one CPU profile (they measure side by side, one cell per node at a time) and
one of another, on the tiny model: every cell of every profile, with the statuses and accuracy of a
local run, and the node that measured it; artifacts built once; a node killed mid-run gives node_lost
cells that --resume measures again; a profile with no node is refused (exit 2) before anything is built."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'bench[ray]')")

from rich.console import Console  # noqa: E402

from bench.config import EXIT_BAD_INPUT, ConfigError  # noqa: E402
from bench.executors.ray import SIMULATED_RESOURCE, profile_resource, ray_start_command  # noqa: E402
from bench.fanout import resume_fanout, run_fanout  # noqa: E402
from bench.record import load_run  # noqa: E402
from bench.runner import ProfileRequest, run_suite  # noqa: E402

pytestmark = pytest.mark.ray
PROFILES = ("aws-c6a-large", "aws-c7a-large")
PAIRED, KILLED = PROFILES  # PAIRED has two nodes, KILLED one, removed mid-run

SUITE = """
name = "raytiny"
default_profile = "auto"
[task]
dataset = "{csv}"
seed = 0
max_train_rows = 64
max_val_rows = 16
max_test_rows = 48
[model]
base = "{model}"
[finetune]
epochs = 1
max_steps = 2
batch_size = 16
max_length = 32
[[variants]]
name = "full"
[measure]
batch_sizes = [1, 4]
seq_lengths = [16]
warmup_iterations = 1
min_iterations = 3
min_duration_s = 0.0
max_duration_s = 0.5
eval_batch_size = 16
build_timeout_s = 600
cell_timeout_s = 300
[slo]
p99_ms = 1000.0
seq_len = 16
accuracy_floor = 0.9
"""


def _node_args(profile: str) -> dict:
    return {"num_cpus": 1, "resources": {profile_resource(profile): 1, SIMULATED_RESOURCE: 1}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head that measures nothing and one simulated node per profile; the nodes keep their artifacts in a
    cache of their own (BENCH_CACHE_DIR as the raylets inherit it), so shipping is exercised."""
    from ray.cluster_utils import Cluster

    before = os.environ.get("BENCH_CACHE_DIR")
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("node-cache"))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = {p: c.add_node(**_node_args(p)) for p in (PAIRED, PAIRED, KILLED)}  # the last of each
    ray.init(address=c.address, log_to_driver=False)
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("parent-cache"))
    yield c, nodes
    ray.shutdown()
    c.shutdown()
    if before is None:
        os.environ.pop("BENCH_CACHE_DIR", None)
    else:
        os.environ["BENCH_CACHE_DIR"] = before


@pytest.fixture(scope="module")
def suite_path(tmp_path_factory, tiny_csv, tiny_model_dir) -> Path:
    path = tmp_path_factory.mktemp("suite") / "raytiny.toml"
    path.write_text(SUITE.format(csv=tiny_csv, model=tiny_model_dir))
    return path


def _kill_after_first_cell(cluster, out: Path, stop: threading.Event) -> None:
    """Remove the KILLED profile's node once its run has a finished cell (the next one is under way)."""
    c, nodes = cluster
    while not stop.is_set():
        runs = list(out.glob(f"raytiny/*-{KILLED}/run.json"))
        if runs and load_run(runs[0].parent).cells:
            c.remove_node(nodes[KILLED])
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fanout(cluster, suite_path, tmp_path_factory):
    """The fan-out run with one node killed mid-run, its resume on a new node, and a local run."""
    out = tmp_path_factory.mktemp("results")
    terminal = io.StringIO()
    console = Console(file=terminal, width=170)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_after_first_cell, args=(cluster, out, stop), daemon=True)
    killer.start()
    t0 = time.monotonic()
    results = dict(zip(PROFILES, run_fanout(str(suite_path), list(PROFILES), out_root=out, console=console,
                                            node_wait_s=2), strict=True))
    fanout_s = time.monotonic() - t0
    stop.set()
    after_kill = load_run(results[KILLED][0])
    parent_cache = os.environ["BENCH_CACHE_DIR"]
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("new-node-cache"))  # empty: fetches from the store
    cluster[0].add_node(**_node_args(KILLED))
    os.environ["BENCH_CACHE_DIR"] = parent_cache
    store = f"file://{out / 'shared-store'}"  # the resume ships through a shared artifact store
    resumed = resume_fanout(results[KILLED][0], after_kill, console=console, node_wait_s=30, artifact_store=store)
    local_dir, local_code = run_suite(str(suite_path), profile=ProfileRequest("local"), out_root=out / "local",
                                      console=console, overrides=["measure.batch_sizes=[4]"])  # fewer cells here
    return {"results": results, "after_kill": after_kill, "resumed": resumed, "local": (local_dir, local_code),
            "terminal": terminal.getvalue(), "fanout_s": fanout_s}


def _by_id(run_dir: Path) -> dict:
    return {c.cell_id: c for c in load_run(run_dir).cells}


def test_a_profile_without_a_node_is_refused_before_anything_is_built(cluster, suite_path, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ConfigError) as refused:
        run_fanout(str(suite_path), [PROFILES[0], "aws-c7i-large"], out_root=tmp_path / "out", node_wait_s=1,
                   console=Console(file=io.StringIO()))
    assert refused.value.exit_code == EXIT_BAD_INPUT
    assert "bench-profile:aws-c7i-large" in str(refused.value) and "aws-c6a-large" in str(refused.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_every_cell_of_every_profile_matches_a_local_run(fanout):
    local = _by_id(fanout["local"][0])
    assert fanout["local"][1] == 0 and {c.status for c in local.values()} == {"ok"}
    alive = fanout["results"][PAIRED]
    for run_dir in (alive[0], fanout["resumed"][0]):
        cells = _by_id(run_dir)
        assert len(cells) == 3 and local.keys() < cells.keys()
        assert {c.status for c in cells.values()} == {"ok"}, [(c.cell_id, c.reason) for c in cells.values()]
        for cid, cell in local.items():
            if cell.quality:
                assert cells[cid].quality["accuracy"] == cell.quality["accuracy"], cid
    assert alive[1] == 0 and fanout["resumed"][1] == 0


def test_the_nodes_of_one_profile_measure_side_by_side_and_each_cell_names_its_node(fanout):
    cells = _by_id(fanout["results"][PAIRED][0])
    nodes = {cid: c.settings["nodes"] for cid, c in cells.items()}
    assert all(len(n) == 1 and n[0]["node_id"] and n[0]["host"] for n in nodes.values()), nodes
    offline = [n[0]["node_id"] for cid, n in nodes.items() if "/offline/" in cid]
    assert len(offline) == 2 and len(set(offline)) == 2  # one round: the two cells on the two nodes at once
    cluster = load_run(fanout["results"][PAIRED][0]).environment["cluster"]
    assert sorted(n["node_id"] for n in cluster["nodes"]) == sorted(set(offline))


def test_each_profile_has_its_own_labelled_run_directory(fanout):
    for profile, (run_dir, _) in fanout["results"].items():
        run = load_run(run_dir)
        assert run_dir.name.endswith(f"-{profile}") and run.profile["name"] == profile
        cluster = run.environment["cluster"]
        assert cluster["executor"] == "ray" and cluster["simulated"] and cluster["node_id"]
        assert run.environment["profile_check"]["mismatches"][0].startswith("simulated node")
        assert f"[{profile}] ok" in fanout["terminal"]  # each cell's line names its profile (not eaten as markup)


def test_bench_report_of_one_profile_finds_the_fan_out_and_ranks_its_profiles(fanout):
    from bench.report.profiles import fanout_run_dirs, profile_rows

    dirs = [d for d, _ in fanout["results"].values()]
    assert fanout_run_dirs(dirs[0]) == dirs
    rows = profile_rows([load_run(d) for d in dirs])
    assert {r["profile"] for r in rows} == set(PROFILES) and all("(simulated node)" in r["measured_on"] for r in rows)
    assert load_run(dirs[0]).environment["cluster"]["artifact_store"] is None  # Ray's object store


def test_artifacts_are_built_once_for_all_profiles(fanout):
    dirs = [d for d, _ in fanout["results"].values()] + [fanout["local"][0]]
    builds = sorted(p.name for d in dirs for p in (d / "logs").glob("build-*.log"))
    assert [b.split("-")[1] for b in builds] == ["full"], builds


def test_a_killed_node_gives_node_lost_cells_and_resume_completes_them(fanout):
    lost = [c for c in fanout["after_kill"].cells if c.status != "ok"]
    assert lost and all(c.error_kind == "node_lost" for c in lost), [(c.cell_id, c.error_kind) for c in lost]
    assert any("lost" in c.reason or "no live node" in c.reason for c in lost)
    assert fanout["results"][KILLED][1] == 3
    kept = {c.cell_id: c.started_at for c in fanout["after_kill"].cells if c.status == "ok"}
    resumed = _by_id(fanout["resumed"][0])
    assert all(resumed[cid].started_at == started for cid, started in kept.items())  # measured once
    store = fanout["results"][KILLED][0].parent.parent / "shared-store"
    assert [p.parent.name for p in store.glob("artifacts/*/COMPLETE")] == [Path(load_run(
        fanout["resumed"][0]).builds["full"]["artifact_dir"]).name]


def test_bench_node_checks_the_machine_against_the_profile():
    from bench.config import load_profile
    from bench.machine import detect

    machine = detect()
    other = next(p for p in PROFILES if load_profile(p).microarchitecture != machine.microarchitecture)
    with pytest.raises(ConfigError, match="is not what profile"):
        ray_start_command(load_profile(other), machine, address="10.0.0.1:6379")
    argv = ray_start_command(load_profile(other), machine, address="10.0.0.1:6379", simulated=True)
    assert argv[1:4] == ["start", "--address", "10.0.0.1:6379"]
    assert '"bench-profile:' + other + '": 1' in argv[argv.index("--resources") + 1]


def test_builds_on_nodes_are_made_there_and_published_in_the_parents_cache(cluster, suite_path, tmp_path, monkeypatch):
    """`[cluster] build_on = "nodes"` (what "auto" does for a CUDA profile): the fine-tune runs on a node of
    the profile, comes back into the parent's (empty) cache verified, and measures as a local build does."""
    from bench import artifacts
    from bench.fanout import builds_on_nodes

    assert builds_on_nodes("auto", "cuda") and not builds_on_nodes("auto", "cpu") and builds_on_nodes("nodes", "cpu")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "parent-cache"))
    [(run_dir, code)] = run_fanout(str(suite_path), [PAIRED], out_root=tmp_path / "out", node_wait_s=5,
                                   console=Console(file=io.StringIO()),
                                   overrides=["cluster.build_on=nodes", "measure.batch_sizes=[1]"])
    run = load_run(run_dir)
    assert code == 0 and {c.status for c in run.cells} == {"ok"}, [(c.cell_id, c.reason) for c in run.cells]
    built = Path(run.builds["full"]["artifact_dir"])
    assert built.is_relative_to(tmp_path / "parent-cache") and artifacts.verify(built) is None
    node = artifacts.read_manifest(built)["built_on"]["node"]
    assert node["node_id"] in {n["node_id"] for n in run.environment["cluster"]["nodes"]}
