"""The Ray executor: each job on a node of one hardware profile of a Ray cluster, in bench's own spawn
worker there (bench/launcher.py: the same time-outs, memory limit, failure kinds and records as a local
run). Needs the optional extra `pip install bench[ray]`.

A node stands for a profile by advertising the custom resource `bench-profile:<name>` with a quantity
of 1 (`bench node`, or `ray start --resources`); every job asks for one unit, so a node measures one
cell at a time, and the nodes of one profile measure side by side (RayExecutor.slots). The artifact and
the test split travel through Ray's object store, or a shared artifact store given as a URI
(bench/artifact_store.py), into the node's own cache (`BENCH_CACHE_DIR` there), where the sha256 of
every file (the artifact's manifest, the split's name) is checked before use; a node that already holds
a verified copy uses it as it is.
Ray's own overhead (scheduling, shipping, unpacking) is outside the worker, hence outside the timed
region; a node that dies or loses its connection turns the job into `failed`, `error_kind` `node_lost`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.executors.base import OnProgress, Outcome
from bench.record import write_atomic

PROFILE_RESOURCE = "bench-profile:"  # + profile name; quantity 1 per node: one cell per node at a time
SIMULATED_RESOURCE = "bench-simulated"  # a node that only plays its profile (tests, demos): check relaxed
NODE_WAIT_S = 60.0  # how long a run waits for a node of each profile before refusing it
# the job fields whose paths travel to the node, and how each is shipped (bench/artifact_store.py)
SHIPPED_FIELDS = (("artifact_dir", "artifact"), ("test_path", "file"), ("parent_dir", "artifact"),
                  ("base_model_dir", "tree"), ("train_path", "file"), ("val_path", "file"))


def profile_resource(profile: str) -> str:
    return PROFILE_RESOURCE + profile


def ray_start_command(profile, machine, *, address: str | None = None, simulated: bool = False) -> list[str]:
    """The `ray start` argv that makes this machine a node of `profile` (bench.config.Profile), after
    checking `machine` (bench.machine.Machine) against it as a local run does (bench.profile_match).
    `address` None: start a head here. `simulated`: the check is relaxed and the node advertises
    `bench-simulated`, which labels every run measured on it. ConfigError (exit 2) on a mismatch."""
    from bench.errors import ConfigError
    from bench.profile_match import check_profile

    mismatches = check_profile(machine, profile)
    if mismatches and not simulated:
        raise ConfigError(f"--profile {profile.name}", f"this machine ({machine.describe()}) is not what profile "
                          f"{profile.name} ({profile.instance}) stands for: {'; '.join(mismatches)}. Start the node on "
                          "a machine of that kind (or, for a test only, with --simulated)")
    resources = {profile_resource(profile.name): 1, **({SIMULATED_RESOURCE: 1} if simulated else {})}
    ray_bin = Path(sys.executable).parent / "ray"
    where = ["--head"] if address is None else ["--address", address]
    return [str(ray_bin) if ray_bin.is_file() else "ray", "start", *where, "--resources", json.dumps(resources),
            "--num-cpus", str(machine.usable_cores)]


def _ray():
    """The ray module, or a BenchError (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        from bench.errors import BenchError

        raise BenchError("--executor ray needs Ray: pip install 'bench[ray]'") from None
    return ray


def connect(address: str | None):
    """Join the cluster at `address` (None: RAY_ADDRESS or a local `ray start --head`); the ray module."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address or "auto", log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            from bench.errors import BenchError

            raise BenchError(f"--ray-address {address or 'auto (RAY_ADDRESS or a local head)'}: cannot join the "
                             f"Ray cluster ({e}); start one with `ray start --head` (see README, Several machines)") from None
    return ray


def live_nodes(profile: str) -> list[dict]:
    """The alive nodes that advertise `profile` (ray.nodes() entries)."""
    ray = _ray()
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(profile_resource(profile))]


def wait_for_profiles(profiles: list[str], wait_s: float = NODE_WAIT_S) -> dict[str, list[dict]]:
    """The live nodes of every profile, waiting up to `wait_s` for the missing ones to join.
    Raises ConfigError (exit 2) naming the profiles with no node and the profiles the cluster has."""
    from bench.errors import ConfigError

    deadline = time.monotonic() + wait_s
    while True:
        found = {p: live_nodes(p) for p in profiles}
        missing = [p for p, nodes in found.items() if not nodes]
        if not missing:
            return found
        if time.monotonic() >= deadline:
            have = sorted({k[len(PROFILE_RESOURCE):] for n in _ray().nodes() if n.get("Alive")
                           for k in n.get("Resources", {}) if k.startswith(PROFILE_RESOURCE)})
            raise ConfigError("--profile " + ", ".join(missing),
                              f"no live node of the cluster advertises {', '.join(map(profile_resource, missing))} "
                              f"after waiting {wait_s:g} s; the cluster's profiles: {', '.join(have) or 'none'}. "
                              "Start one with `bench node --profile P --address ADDR` on a machine of that kind")
        time.sleep(1.0)  # setup only: nothing is measured while the parent waits


def _node_is_simulated(node: dict) -> bool:
    return bool(node.get("Resources", {}).get(SIMULATED_RESOURCE))


def probe_node(profile: str, node: dict) -> dict:
    """On a node of `profile`: its environment as a run records it (bench.env.collect_environment with
    the node's detected machine), its node id and whether it is simulated."""
    ray = _ray()
    task = ray.remote(_node_environment).options(num_cpus=0, max_retries=0, **_on_node(node["NodeID"]))
    env = ray.get(task.remote())
    return {"environment": env, "node_id": node["NodeID"], "simulated": _node_is_simulated(node)}


def _on_node(node_id: str) -> dict:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def _node_environment() -> dict:
    from bench.config import REPO_ROOT
    from bench.env import collect_environment
    from bench.machine import detect

    return collect_environment(REPO_ROOT, detect())


def _run_on_node(job, timeout_s: float, memory_limit_mib: float | None, shipped: tuple, *contents):
    """The Ray task: place the job's inputs in this node's cache (`shipped`: (job field, kind, name) triples;
    their `contents`: the files, resolved by Ray from its object store, or where they lie in a shared
    store), checked by sha256, run the job in a spawn worker, and return (Outcome, the worker's log, and
    for a build job that succeeded its output directory packed: {relative path: bytes}, else None)."""
    from bench import launcher
    from bench.artifact_store import pack, place

    changes = {field: place(kind, name, source) for (field, kind, name), source in zip(shipped, contents, strict=True)}
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        if job.kind == "build":  # built here, into a directory of this node; the parent publishes it
            changes["out_dir"] = str(Path(tmp) / "out")
        job = dataclasses.replace(job, **changes) if changes else job
        log = Path(tmp) / "worker.log"
        outcome = launcher.run_job(job, log, timeout_s, None, memory_limit_mib=memory_limit_mib)
        text = log.read_text(errors="replace") if log.is_file() else ""
        built = pack(Path(job.out_dir)) if job.kind == "build" and outcome.status == "ok" else None
    return outcome, text, built


def node_label(node: dict) -> dict:
    """What a cell record says about the node that measured it (a ray.nodes() entry)."""
    return {"node_id": node["NodeID"], "host": node.get("NodeManagerHostname"),
            "address": node.get("NodeManagerAddress")}


class RayExecutor:
    """Runs each job on a live node of `profile`, one job per node at a time: `slots` jobs at once, one
    for each node of the profile alive when it was made (more nodes joining later are spares). A job
    waits for a free node; `node_wait_s`: how long it waits once no node of the profile is alive before
    it is `node_lost` without having started. `artifact_store`: a URI (bench/artifact_store.py) the inputs
travel through instead of Ray's object store. Thread-safe (the scheduler calls it from `slots` threads)."""

    def __init__(self, profile: str, node_wait_s: float = NODE_WAIT_S, artifact_store: str | None = None):
        from bench.artifact_store import open_store

        self.profile = profile
        self.node_wait_s = node_wait_s
        self.store = open_store(artifact_store) if artifact_store else None  # None: Ray's object store
        self._shipped: dict[str, tuple] = {}  # local path -> (name or key, object ref), put once
        self._ship_lock = threading.Lock()
        self._busy: set[str] = set()  # node ids running a job of this executor
        self._released = threading.Condition()
        self.slots = max(1, len(live_nodes(profile)))

    def _ship(self, path_text: str, kind: str) -> tuple:
        """(name, source), made once per path: the artifact's directory name, the file's sha256 or the
        plain directory's content key, and its files in Ray's object store, or where the shared artifact
        store holds them."""
        from bench.artifact_store import pack, store_key, tree_key
        from bench.artifacts import file_sha256

        with self._ship_lock:
            if path_text not in self._shipped:
                path = Path(path_text)
                name = {"artifact": lambda: path.name, "file": lambda: file_sha256(path), "tree": lambda: tree_key(path)}[kind]()
                if self.store is None:
                    self._shipped[path_text] = (name, _ray().put(pack(path)))
                else:
                    key = store_key(name, kind)
                    self.store.put(path, key)
                    self._shipped[path_text] = (name, (self.store.uri, key))
            return self._shipped[path_text]

    def _shipment(self, job) -> tuple[tuple, list]:
        """((job field, kind, name) triples, their sources): a cell's artifact and test split; a build's
        parent artifact, base model and train and validation splits."""
        fields = [(f, kind) for f, kind in SHIPPED_FIELDS if getattr(job, f, None)]
        shipped = [self._ship(getattr(job, f), kind) for f, kind in fields]
        return (tuple((f, kind, name) for (f, kind), (name, _) in zip(fields, shipped, strict=True)),
                [source for _, source in shipped])

    def _acquire(self) -> dict | None:
        """A live node of the profile that runs no job of ours, marked busy; None once no node of the
        profile has been alive for `node_wait_s`. Blocks while every live node is busy (a job's end wakes
        it); only with no live node does it look again each second (nothing of ours is measuring then)."""
        deadline = time.monotonic() + self.node_wait_s
        with self._released:
            while True:
                nodes = live_nodes(self.profile)
                free = [n for n in nodes if n["NodeID"] not in self._busy]
                if free:
                    self._busy.add(free[0]["NodeID"])
                    return free[0]
                if nodes:
                    deadline = time.monotonic() + self.node_wait_s
                elif time.monotonic() >= deadline:
                    return None
                self._released.wait(timeout=None if nodes else 1.0)

    def _release(self, node_id: str) -> None:
        with self._released:
            self._busy.discard(node_id)
            self._released.notify_all()

    def run(self, job, log_path: Path, timeout_s: float, on_progress: OnProgress | None = None,
            memory_limit_mib: float | None = None) -> Outcome:
        node = self._acquire()
        if node is None:
            return Outcome("failed", reason=f"no live node of profile {self.profile} "
                                            f"(waited {self.node_wait_s:g} s)", error_kind="node_lost")
        try:
            if on_progress:  # one line per node while it measures (the worker's own progress stays there)
                on_progress(f"node {node.get('NodeManagerHostname')} {node['NodeID'][:8]}: {log_path.stem}", 0, 1)
            outcome = self._run_on(node, job, log_path, timeout_s, memory_limit_mib)
        finally:
            self._release(node["NodeID"])
        return dataclasses.replace(outcome, node=node_label(node))

    def _run_on(self, node: dict, job, log_path: Path, timeout_s: float, memory_limit_mib: float | None) -> Outcome:
        ray = _ray()
        task = ray.remote(_run_on_node).options(
            num_cpus=0, max_retries=0, resources={profile_resource(self.profile): 1}, **_on_node(node["NodeID"]))
        t0 = time.monotonic()
        try:
            names, refs = self._shipment(job)
            outcome, log_text, built = ray.get(task.remote(job, timeout_s, memory_limit_mib, names, *refs))
        except ray.exceptions.RayTaskError as e:  # bench's own code failed on the node (not the worker)
            return Outcome("failed", reason=f"on node {node['NodeID']}: {e.cause!r}", error_kind="exception",
                           error_tail=str(e)[-2000:], wall_s=time.monotonic() - t0)
        except ray.exceptions.RayError as e:  # the node died, was pre-empted or lost its connection
            return Outcome("failed", reason=f"node {node['NodeID']} lost: {type(e).__name__}",
                           error_kind="node_lost", error_tail=str(e)[-2000:], wall_s=time.monotonic() - t0)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(log_path, log_text)
        if built is not None:  # a build made on the node: its files into the parent's staging directory
            from bench.artifact_store import unpack

            unpack(Path(job.out_dir), built)
        return outcome
