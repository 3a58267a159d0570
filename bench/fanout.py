"""One suite, several hardware profiles, one command: `bench run SUITE --profile A --profile B --executor
ray`. One run directory per profile (tagged with its name), written by this parent as cells arrive;
every cell of profile P measured on a node of P of a Ray cluster (bench/executors/ray.py); artifacts
built once here (the cache's lock: the first run builds, the others find it) and shipped to the nodes,
except a CUDA profile's, built on a node of it and shipped back into this cache (`builds_on_nodes`).

Everything that can refuse (Ray missing, a profile without a live node, a node's hardware that is not
its profile) refuses before a directory is created or anything is built: exit 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.console import Console

from bench.artifact_store import open_store
from bench.config import LOCAL_PROFILE
from bench.errors import ConfigError
from bench.executors import ray as ray_executor
from bench.executors.local import LocalExecutor
from bench.registry import load_suite
from bench.runner import make_context, new_progress, run_contexts
from bench.runsetup import Node, ProfileRequest, choose_run_profile, resume_run, start_run


def _node(profile: str, nodes: list[dict], address: str | None, artifact_store: str | None) -> Node:
    """The run's node: the first live node of `profile` probed (its environment is the run's), with every
    live node of the profile listed (they measure side by side; each cell names its own)."""
    probe = ray_executor.probe_node(profile, nodes[0])
    return Node(probe["environment"], {"executor": "ray", "address": address,
                                       "profile_resource": ray_executor.profile_resource(profile),
                                       "node_id": probe["node_id"], "simulated": probe["simulated"],
                                       "nodes": [ray_executor.node_label(n) for n in nodes],
                                       "artifact_store": artifact_store})


def cluster_nodes(profiles: list[str], address: str | None, node_wait_s: float,
                  artifact_store: str | None = None) -> dict[str, Node]:
    """Join the cluster and probe one live node of each profile (its detected machine and environment).
    ConfigError (exit 2) for `auto`/`local`, a repeated profile, or a profile with no live node."""
    bad = [p for p in profiles if p in ("auto", LOCAL_PROFILE)]
    if bad or len(set(profiles)) != len(profiles):
        raise ConfigError("--profile", "with --executor ray, name each profile once (the nodes advertise named "
                          f"profiles; 'auto' and 'local' mean this machine): got {', '.join(profiles)}")
    ray_executor.connect(address)
    found = ray_executor.wait_for_profiles(profiles, node_wait_s)
    return {p: _node(p, found[p], address, artifact_store) for p in profiles}


def _check_all(suite_ref: str, overrides, profiles: list[str], nodes: dict[str, Node], allow_mismatch: bool):
    """Every node against its profile (bench.profile_match) before any run directory is made; returns
    the suite's `[cluster] build_on` and {profile: its device} (cpu or cuda)."""
    suite, _ = load_suite(suite_ref, overrides)
    devices = {}
    for p in profiles:
        choice = choose_run_profile(ProfileRequest(p, allow_mismatch), suite, nodes[p].machine, Console(quiet=True),
                                    simulated=nodes[p].cluster["simulated"])
        devices[p] = choice.profile.device
    return suite.cluster.build_on, devices


def builds_on_nodes(build_on: str, device: str) -> bool:
    """Whether a profile's artifacts are built on its nodes (`[cluster] build_on`): "auto" builds a CUDA
    profile's there (its fine-tune runs on the GPU; fp16 and TensorRT artifacts are valid only on that GPU
    kind, and the cache keys them by it) and a CPU profile's here, once for all of them."""
    return build_on == "nodes" or (build_on == "auto" and device != "cpu")


def _executors(profile: str, on_nodes: bool, node_wait_s: float, store: str | None) -> tuple:
    """(measuring executor, build executor) of a profile: its nodes, and its nodes or here."""
    measure = ray_executor.RayExecutor(profile, node_wait_s, store)
    return measure, (measure if on_nodes else LocalExecutor())


def run_fanout(suite_ref: str, profiles: list[str], *, address: str | None = None, out_root: Path = Path("results"),
               only=None, overrides=None, allow_mismatch: bool = False, console: Console | None = None,
               node_wait_s: float = ray_executor.NODE_WAIT_S, artifact_store: str | None = None) -> list[tuple[Path, int]]:
    """Measure `suite_ref` on a node of every profile at once; (run directory, exit code) per profile.
    `artifact_store`: a URI the artifacts travel through (bench/artifact_store.py), else Ray's object store."""
    console = console or Console(stderr=True)
    if artifact_store:
        open_store(artifact_store)  # refused (exit 2) before anything is built: no fsspec, no backend
    nodes = cluster_nodes(profiles, address, node_wait_s, artifact_store)
    build_on, devices = _check_all(suite_ref, overrides, profiles, nodes, allow_mismatch)
    progress = new_progress(console)
    contexts = []
    for p in profiles:
        setup = start_run(suite_ref, ProfileRequest(p, allow_mismatch), out_root, overrides, only, console, nodes[p])
        measure, build = _executors(p, builds_on_nodes(build_on, devices[p]), node_wait_s, artifact_store)
        contexts.append(make_context(setup, console, measure, False, progress, label=f"[{p}] ", build_executor=build))
    ids = [c.run_dir.name for c in contexts]  # each run names its siblings: `bench report` shows them side by side
    for c in contexts:
        cluster = {**c.record.environment["cluster"], "fanout_run_ids": ids}
        c.record = dataclasses.replace(c.record, environment={**c.record.environment, "cluster": cluster})
    return list(zip([c.run_dir for c in contexts], run_contexts(contexts), strict=True))


def is_cluster_run(record) -> bool:
    return (record.environment.get("cluster") or {}).get("executor") == "ray"


def resume_fanout(run_dir: Path, record, *, address: str | None = None, only=None, console: Console | None = None,
                  node_wait_s: float = ray_executor.NODE_WAIT_S, artifact_store: str | None = None) -> tuple[Path, int]:
    """`bench run --resume` of one profile's directory of a fan-out run: on a live node of its profile, whose
    environment must match the run's; measures the missing cells and those lost with their node. The
    artifact store is the run's unless another is given."""
    console = console or Console(stderr=True)
    profile = record.profile["name"]
    cluster = record.environment["cluster"]
    store = artifact_store or cluster.get("artifact_store")
    if store:
        open_store(store)
    node = cluster_nodes([profile], address or cluster.get("address"), node_wait_s, store)[profile]
    setup = resume_run(run_dir, only, console, environment_now=node.environment)
    on_nodes = builds_on_nodes(setup.suite.cluster.build_on, setup.profile.device)
    measure, build = _executors(profile, on_nodes, node_wait_s, store)
    ctx = make_context(setup, console, measure, True, label=f"[{profile}] ", build_executor=build)
    return ctx.run_dir, run_contexts([ctx])[0]
