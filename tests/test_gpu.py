"""What can be checked of the GPU path without a GPU: profile matching by GPU name, the energy
arithmetic, the fallbacks when NVML is missing (a clear `not measured`, never zero), the NVML monitor
and device isolation against a fake `pynvml` module that behaves as nvidia-ml-py's does."""

import builtins
import os
import sys
import time
import types
from pathlib import Path

import pytest

from bench import gpu
from bench.config import list_files, load_profile
from bench.jobspec import CallJob


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


def test_auto_profile_picks_by_the_gpu_else_local_without_a_price():
    import dataclasses

    from rich.console import Console

    from bench.machine import Gpu, parse_cpuinfo
    from bench.registry import load_suite
    from bench.runsetup import ProfileRequest, choose_run_profile

    suite, _ = load_suite("default")
    fixtures = Path(__file__).parent / "fixtures" / "machines"
    zen3 = parse_cpuinfo((fixtures / "zen3-epyc-2vcpu.cpuinfo").read_text(), usable_cores=2, memory_mib=4096.0)
    auto, console = ProfileRequest("auto"), Console(stderr=True)
    assert choose_run_profile(auto, suite, zen3, console).profile.name == "aws-c6a-large"
    l4 = dataclasses.replace(zen3, gpus=(Gpu("NVIDIA L4", 23034.0, "550.54"),))
    assert choose_run_profile(auto, suite, l4, console).profile.name == "aws-g6-xlarge"
    unknown = choose_run_profile(auto, suite, dataclasses.replace(zen3, gpus=(Gpu("Some GPU", 1.0, "1"),)), console)
    assert (unknown.status, unknown.profile.device, unknown.profile.price_usd_per_hour) == ("local", "cuda", None)
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="no NVIDIA GPU was found here"):
        choose_run_profile(ProfileRequest("aws-g6-xlarge", allow_mismatch=True), suite, zen3, console)


def fake_pynvml(energy_mj=(1_000_000, 1_250_000), others=(4242,), clocks=(1410, 1980)):
    """A stand-in for nvidia-ml-py: a device at 250 W, 90% busy, this process using 512 MiB, and
    `others` using 1 GiB each; the energy counter reads the values in `energy_mj` in turn (None: missing)."""
    m = types.ModuleType("pynvml")
    readings = list(energy_mj)
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM = 1, 2
    m.nvmlInit = m.nvmlShutdown = lambda: None
    m.nvmlDeviceGetHandleByIndex = lambda i: "gpu0"

    def energy(handle):
        value = readings.pop(0) if readings else None
        if value is None:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return value

    m.nvmlDeviceGetTotalEnergyConsumption = energy
    m.nvmlDeviceGetPowerUsage = lambda h: 250_000  # mW
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=90, memory=40)
    m.nvmlDeviceGetClockInfo = lambda h, kind: clocks[0] if kind == 1 else clocks[1]
    procs = [types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * 2**20)]
    procs += [types.SimpleNamespace(pid=p, usedGpuMemory=2**30) for p in others]
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: procs
    m.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []
    return m


def test_monitor_reads_the_energy_counter_clocks_memory_and_other_processes(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    with gpu.NvmlMonitor(interval_s=0.01) as mon:
        time.sleep(0.05)
    r = mon.result(inferences=1000, price_usd_per_kwh=0.36)
    e = r["energy"]
    assert e["method"] == "NVML total-energy counter" and e["energy_j"] == 250.0
    assert e["energy_per_inference_j"] == pytest.approx(0.25)
    assert e["usd_per_million_energy"] == pytest.approx(0.25 * 1e6 / 3.6e6 * 0.36)
    assert r["mean_power_w"] == 250.0 and r["mean_utilization_pct"] == 90.0
    assert r["peak_process_memory_nvml_mib"] == 512.0
    assert r["sm_clock_mhz"] == {"start": 1410, "end": 1410, "min": 1410, "max": 1410}
    assert r["memory_clock_mhz"]["start"] == 1980
    assert r["other_processes_during"] == [{"pid": 4242, "memory_mib": 1024.0}]
    assert r["samples"] >= 2  # at least the start and the end


def test_monitor_integrates_power_where_the_counter_is_missing_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_mj=(None, None)))
    with gpu.NvmlMonitor(interval_s=0.01) as mon:
        time.sleep(0.1)
    e = mon.result(inferences=100)["energy"]
    assert e["method"].startswith("integrated NVML power samples")
    # 250 W over the sampled span (at least most of the 0.1 s block)
    span = mon.samples[-1]["t_s"] - mon.samples[0]["t_s"]
    assert e["energy_j"] == pytest.approx(250.0 * span) and span > 0.05


def test_isolation_warns_or_refuses_as_the_suite_says(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(others=(4242, 4343)))
    others = gpu.other_gpu_processes()
    assert [p["pid"] for p in others] == [4242, 4343] and others[0]["memory_mib"] == 1024.0
    assert gpu.check_isolation("off", others, "before the cell") is None
    warning = gpu.check_isolation("warn", others, "before the cell")
    assert warning == "before the cell: 2 other process(es) on the GPU: pid 4242 (1024 MiB), pid 4343 (1024 MiB)"
    with pytest.raises(gpu.DeviceBusy, match='gpu_isolation = "refuse": stop them'):
        gpu.check_isolation("refuse", others, "before the cell")
    assert gpu.check_isolation("refuse", [], "before the cell") is None  # isolated
    assert gpu.check_isolation("refuse", None, "before the cell") is None  # NVML cannot tell: not refused


def test_device_busy_reaches_the_record_as_its_own_kind(tmp_path):
    from bench import launcher

    out = launcher.run_job(CallJob(target="tests.faults:device_busy"), tmp_path / "w.log", 60)
    assert out.status == "failed" and out.error_kind == "device_busy"
    assert "other process(es) on the GPU" in out.reason


def test_gpu_environment_is_parsed_from_nvidia_smi():
    from bench.env import parse_gpu_query

    out = "NVIDIA H100 80GB HBM3, 550.90.07, 81559 MiB, 9.0, 345 MHz, 2619 MHz, 1980 MHz, 2619 MHz, Enabled, 700.00 W\n" * 2
    env = parse_gpu_query(out)
    assert env["gpu_name"] == "NVIDIA H100 80GB HBM3" and env["gpu_driver"] == "550.90.07" and env["gpu_count"] == 2
    assert env["gpu_clocks_at_start"] == {"sm": "345 MHz", "memory": "2619 MHz", "max_sm": "1980 MHz",
                                          "max_memory": "2619 MHz"}
    assert env["gpu_compute_capability"] == "9.0" and env["gpu_persistence_mode"] == "Enabled"


def test_an_older_driver_answering_only_the_basic_fields_still_names_the_gpu():
    from bench.env import parse_gpu_query

    env = parse_gpu_query("Tesla T4, 470.82.01, 15109 MiB\n")
    assert env["gpu_name"] == "Tesla T4" and env["gpu_driver"] == "470.82.01"
    assert env["gpu_compute_capability"] is None and env["gpu_clocks_at_start"]["sm"] is None


def test_gpu_info_falls_back_to_the_basic_query(monkeypatch):
    from bench import env

    asked = []

    def fake_run(cmd, cwd=None):
        asked.append(cmd[1])
        return None if "compute_cap" in cmd[1] else "Tesla T4, 470.82.01, 15109 MiB"

    monkeypatch.setattr(env.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(env, "_run", fake_run)
    info = env.gpu_info()
    assert info["gpu_name"] == "Tesla T4" and len(asked) == 2 and "cuda_runtime" in info
