"""What can be checked of the GPU path without a GPU: profile matching by GPU name, the energy
arithmetic, and the fallbacks when NVML is missing (a clear `not measured`, never zero)."""

import builtins

import pytest

from bench import gpu
from bench.config import list_files, load_profile


@pytest.fixture(scope="module")
def profiles():
    return [load_profile(str(p)) for p in list_files("profiles")]


@pytest.mark.parametrize(("name", "profile"), [
    ("Tesla T4", "aws-g4dn-xlarge"),
    ("NVIDIA A10G", "aws-g5-xlarge"),
    ("NVIDIA L4", "aws-g6-xlarge"),
    ("NVIDIA A100-SXM4-40GB", "aws-p4d-a100-per-gpu"),
    ("NVIDIA H100 80GB HBM3", "aws-p5-h100-per-gpu"),
    ("NVIDIA L40S", None),  # "L4" is a whole word only: an L40S is not an L4
    ("NVIDIA GeForce RTX 4090", None),
    (None, None),
])
def test_profile_matching_by_gpu_name(profiles, name, profile):
    found = gpu.match_profile(name, profiles)
    assert (found.name if found else None) == profile


def test_energy_arithmetic():
    assert gpu.energy_from_power_j([0.0, 1.0, 3.0], [100.0, 200.0, 200.0]) == pytest.approx(150 + 400)
    assert gpu.energy_cost_usd(3.6e6, 0.12) == pytest.approx(0.12)  # one kWh
    e = gpu.summarize_energy(50.0, "NVML total-energy counter", inferences=1000, price_usd_per_kwh=0.10)
    assert e["energy_per_inference_j"] == pytest.approx(0.05)
    assert e["usd_per_million_energy"] == pytest.approx(0.05 * 1e6 / 3.6e6 * 0.10)
    with pytest.raises(ValueError):
        gpu.energy_from_power_j([0.0], [1.0])


def test_missing_nvml_says_not_measured_and_why(monkeypatch):
    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with gpu.NvmlMonitor() as mon:
        pass
    r = mon.result(inferences=100)
    assert r == {"status": "not measured", "reason": "nvidia-ml-py is not installed (pip install nvidia-ml-py)"}
    assert gpu.other_gpu_processes() is None
    assert gpu.summarize_energy(None, "", 10, None, reason="no counter") == {"status": "not measured", "reason": "no counter"}


def test_auto_profile_without_a_gpu_falls_back_to_the_suites(capsys):
    from rich.console import Console

    from bench.config import load_suite
    from bench.runner import resolve_profile

    suite, _ = load_suite("default")
    assert resolve_profile("auto", suite, {"gpu_name": None}, Console(stderr=True)).name == "aws-c6a-large"
    assert resolve_profile("auto", suite, {"gpu_name": "NVIDIA L4"}, Console(stderr=True)).name == "aws-g6-xlarge"
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="no profile in profiles/ matches the GPU 'Some GPU'"):
        resolve_profile("auto", suite, {"gpu_name": "Some GPU"}, Console(stderr=True))
