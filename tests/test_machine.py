"""Machine identity from captured and reconstructed fixtures (any CPU runs these), live detection, and the
profile checks: match, each kind of mismatch naming both sides, `auto` with and without a match,
`local` without a price."""

from pathlib import Path

import pytest

from bench.config import REPO_ROOT, Profile, list_files, load_profile
from bench.errors import ConfigError
from bench.machine import Gpu, Machine, detect, microarchitecture, parse_cpuinfo, parse_nvidia_smi
from bench.profile_match import auto_profile, check_profile, local_profile, matching_profiles

FIXTURES = Path(__file__).parent / "fixtures" / "machines"


def fixture_machine(stem: str, gpus: tuple[Gpu, ...] = ()) -> Machine:
    lscpu = FIXTURES / f"{stem}.lscpu"
    return parse_cpuinfo((FIXTURES / f"{stem}.cpuinfo").read_text(),
                         lscpu.read_text() if lscpu.is_file() else None, memory_mib=4096.0, gpus=gpus)


def shipped_profiles() -> list[Profile]:
    return [load_profile(str(p)) for p in list_files("profiles") if p.parent == REPO_ROOT / "profiles"]


H100_GPUS = parse_nvidia_smi((FIXTURES / "h100-box.nvidia-smi.csv").read_text())


@pytest.mark.parametrize("stem, vendor, uarch, isa, arch", [
    ("zen3-epyc-2vcpu", "AMD", "Zen 3", ("avx2",), "x86_64"),
    ("zen4-epyc-9r14-2vcpu", "AMD", "Zen 4", ("avx2", "avx512", "avx512_vnni", "avx512_bf16"), "x86_64"),
    ("zen5-epyc-9r45-2vcpu", "AMD", "Zen 5", ("avx2", "avx512", "avx512_vnni", "avx_vnni", "avx512_bf16"), "x86_64"),
    ("spr-xeon-8488c-2vcpu", "Intel", "Sapphire Rapids",
     ("avx2", "avx512", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx"), "x86_64"),
    ("graviton3-2vcpu", "ARM", "Neoverse V1", ("neon", "sve", "arm_bf16", "arm_i8mm"), "aarch64"),
])
def test_fixture_identity(stem, vendor, uarch, isa, arch):
    m = fixture_machine(stem)
    assert (m.cpu_vendor, m.microarchitecture, m.isa, m.arch, m.usable_cores) == (vendor, uarch, isa, arch, 2)
    assert Machine.from_dict(m.to_dict()) == m


def test_captured_zen3_describe():
    m = fixture_machine("zen3-epyc-2vcpu")
    assert (m.cpu_family, m.cpu_model, m.cpu_stepping) == (25, 1, 1)
    assert m.describe() == "AMD EPYC (Zen 3, AVX2; no AVX-512/VNNI/BF16/AMX), 2 vCPUs, 4.0 GiB"


def test_graviton_name_comes_from_lscpu():
    assert fixture_machine("graviton3-2vcpu").cpu_model_name == "Neoverse-V1"
    text = (FIXTURES / "graviton3-2vcpu.cpuinfo").read_text()
    assert parse_cpuinfo(text).cpu_model_name == "Neoverse V1"  # without lscpu: from the MIDR table


@pytest.mark.parametrize("args, expected", [
    (("AMD", 0x17, 0x31), "Zen 2"), (("AMD", 0x19, 0x01), "Zen 3"), (("AMD", 0x19, 0x11), "Zen 4"),
    (("AMD", 0x19, 0xA0), "Zen 4"), (("AMD", 0x1A, 0x02), "Zen 5"), (("AMD", 0x1A, 0x44), "Zen 5"),
    (("Intel", 6, 0x55, 7), "Cascade Lake"), (("Intel", 6, 0x55, 4), "Skylake-SP"),
    (("Intel", 6, 0x55, 11), "Cooper Lake"), (("Intel", 6, 0x6A, 6), "Ice Lake"),
    (("Intel", 6, 0xCF, 2), "Emerald Rapids"), (("Intel", 6, 0xAD, 1), "Granite Rapids"),
    (("ARM", 8, None, None, 0xD0C), "Neoverse N1"), (("ARM", 8, None, None, 0xD4F), "Neoverse V2"),
    (("ARM", 8, None, None, 0xD84), "Neoverse V3"), (("AMD", 0x15, 0x01), None), (("Intel", 6, 0x01, 0), None),
])
def test_microarchitecture_table(args, expected):
    assert microarchitecture(*args) == expected


def test_nvidia_smi_and_h100_describe():
    assert len(H100_GPUS) == 8 and H100_GPUS[0] == Gpu("NVIDIA H100 80GB HBM3", 81559.0, "550.54.15")
    assert parse_nvidia_smi("NVIDIA L4, 23034 MiB, 535.1") == (Gpu("NVIDIA L4", 23034.0, "535.1"),)
    m = fixture_machine("spr-xeon-8488c-2vcpu", H100_GPUS)
    assert m.describe().endswith(", 8x NVIDIA H100 80GB HBM3 (80 GiB, driver 550.54.15)")
    with pytest.raises(ValueError, match=r"expected name, memory\.total, driver_version"):
        parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559")


def test_not_cpuinfo_is_refused():
    with pytest.raises(ValueError, match="not /proc/cpuinfo"):
        parse_cpuinfo("hello: world\n")


def test_live_detection():
    m = detect()
    assert m.usable_cores >= 1 and m.cpu_model_name and m.arch
    assert m.memory_mib is None or m.memory_mib > 0
    assert Machine.from_dict(m.to_dict()) == m
    assert m.describe().startswith(m.cpu_model_name)


# ---- profiles ----------------------------------------------------------------------------------------

def test_every_shipped_cpu_profile_says_its_hardware():
    for p in shipped_profiles():
        if p.device == "cpu":
            assert p.cpu_vendor and p.microarchitecture and p.isa and p.vcpus, p.name
        else:
            assert p.gpu_name_contains, p.name
        assert p.price_usd_per_hour and p.price_source and p.price_date, p.name


@pytest.mark.parametrize("stem, profile", [
    ("zen3-epyc-2vcpu", "aws-c6a-large"), ("zen4-epyc-9r14-2vcpu", "aws-c7a-large"),
    ("spr-xeon-8488c-2vcpu", "aws-c7i-large"), ("graviton3-2vcpu", "aws-m7g-large"),
])
def test_match_and_auto(stem, profile):
    m = fixture_machine(stem)
    assert check_profile(m, load_profile(profile)) == []
    assert [p.name for p in matching_profiles(m, shipped_profiles())] == [profile]
    assert auto_profile(m, shipped_profiles()).name == profile


def test_zen5_priced_as_c6a_names_both_sides():
    problems = check_profile(fixture_machine("zen5-epyc-9r45-2vcpu"), load_profile("aws-c6a-large"))
    assert "microarchitecture: this machine is Zen 5 (AMD EPYC 9R45), profile aws-c6a-large stands for Zen 3" in problems
    assert any(p.startswith("ISA: this machine (AMD EPYC 9R45) has AVX-512, VNNI") and "aws-c6a-large lacks" in p
               for p in problems)
    assert auto_profile(fixture_machine("zen5-epyc-9r45-2vcpu"), shipped_profiles()) is None


def test_each_kind_of_mismatch():
    zen3 = fixture_machine("zen3-epyc-2vcpu")
    c7i = check_profile(zen3, load_profile("aws-c7i-large"))
    assert "CPU vendor: this machine is AMD (AMD EPYC), profile aws-c7i-large stands for Intel" in c7i
    assert "ISA: this machine (AMD EPYC) lacks AVX-512, VNNI, AVX-VNNI, BF16, AMX, which profile aws-c7i-large has" in c7i
    wide = load_profile("aws-c6a-large").model_copy(update={"vcpus": 4})
    assert check_profile(zen3, wide) == ["usable cores: this machine gives bench 2, profile aws-c6a-large stands for 4 vCPUs"]
    assert check_profile(zen3, load_profile("aws-g6-xlarge")) == [
        "GPU: this machine has no NVIDIA GPU, profile aws-g6-xlarge stands for L4"]
    h100_box = fixture_machine("spr-xeon-8488c-2vcpu", H100_GPUS)
    assert check_profile(h100_box, load_profile("aws-g6-xlarge")) == [
        "GPU: this machine has NVIDIA H100 80GB HBM3, profile aws-g6-xlarge stands for L4"]


def test_gpu_auto_uses_gpu_match():
    h100_box = fixture_machine("spr-xeon-8488c-2vcpu", H100_GPUS)
    assert check_profile(h100_box, load_profile("aws-p5-h100-per-gpu")) == []
    assert auto_profile(h100_box, shipped_profiles()).name == "aws-p5-h100-per-gpu"


def test_local_profile_with_and_without_price():
    zen5 = fixture_machine("zen5-epyc-9r45-2vcpu")
    free = local_profile(zen5)
    assert (free.name, free.price_usd_per_hour, free.price_source, free.device) == ("local", None, None, "cpu")
    assert check_profile(zen5, free) == []
    priced = local_profile(zen5, 0.25)
    assert priced.price_usd_per_hour == 0.25 and priced.price_source and priced.price_date
    assert local_profile(fixture_machine("spr-xeon-8488c-2vcpu", H100_GPUS)).device == "cuda"


def test_only_local_may_leave_out_the_price(tmp_path):
    path = tmp_path / "cheap.toml"
    path.write_text('name = "cheap"\ndescription = "x"\ndevice = "cpu"\ninstance = "x"\n')
    with pytest.raises(ConfigError, match="missing price_usd_per_hour, price_source, price_date"):
        load_profile(str(path))
    path.write_text('name = "local"\ndescription = "x"\ndevice = "cpu"\ninstance = "x"\nisa = ["avx3"]\n')
    with pytest.raises(ConfigError, match="isa: unknown feature"):
        load_profile(str(path))


def test_choose_profile_refuses_a_mismatch_naming_both_sides_and_the_matches():
    from bench.profile_match import choose_profile

    zen5, zen3 = fixture_machine("zen5-epyc-9r45-2vcpu"), fixture_machine("zen3-epyc-2vcpu")
    with pytest.raises(ConfigError) as refused:
        choose_profile("aws-c6a-large", zen5, shipped_profiles(), load_profile)
    text = str(refused.value)
    assert "AMD EPYC 9R45" in text and "Zen 5" in text and "stands for Zen 3" in text
    assert "Shipped profiles that match this machine: none" in text and "--allow-profile-mismatch" in text
    with pytest.raises(ConfigError, match="Shipped profiles that match this machine: aws-c6a-large"):
        choose_profile("aws-c7i-large", zen3, shipped_profiles(), load_profile)
    allowed = choose_profile("aws-c6a-large", zen5, shipped_profiles(), load_profile, allow_mismatch=True)
    assert allowed.status == "mismatch_allowed" and allowed.profile.name == "aws-c6a-large"
    assert allowed.note.startswith("measured on AMD EPYC 9R45 (Zen 5") and "priced as aws-c6a-large" in allowed.note
    assert allowed.to_dict()["mismatches"] == list(allowed.mismatches)
    assert choose_profile("aws-c6a-large", zen3, shipped_profiles(), load_profile).status == "match"


def test_choose_profile_auto_and_local():
    from bench.profile_match import choose_profile

    zen3, zen5 = fixture_machine("zen3-epyc-2vcpu"), fixture_machine("zen5-epyc-9r45-2vcpu")
    assert choose_profile("auto", zen3, shipped_profiles(), load_profile).profile.name == "aws-c6a-large"
    free = choose_profile("auto", zen5, shipped_profiles(), load_profile)
    assert (free.status, free.profile.name, free.profile.price_usd_per_hour) == ("local", "local", None)
    assert "no shipped profile matches" in free.note and "no price" in free.note
    priced = choose_profile("local", zen5, shipped_profiles(), load_profile, price_usd_per_hour=0.2)
    assert priced.profile.price_usd_per_hour == 0.2 and "$0.2/h" in priced.note
    with pytest.raises(ConfigError, match="prices the 'local' profile"):
        choose_profile("aws-c6a-large", zen3, shipped_profiles(), load_profile, price_usd_per_hour=0.2)


def test_a_stored_machine_record_compares_equal_to_the_live_one():
    """--resume and compare must not refuse the machine a run was measured on (tuples vs JSON lists)."""
    import json

    from bench.env import environment_differences, machine_record

    live = {"machine": machine_record(fixture_machine("zen5-epyc-9r45-2vcpu"))}
    stored = json.loads(json.dumps(live))
    raw = {"machine": {**fixture_machine("zen5-epyc-9r45-2vcpu").to_dict()}}  # tuples, as before JSON
    assert environment_differences(stored, live) == [] == environment_differences(stored, raw)
    zen3 = {"machine": machine_record(fixture_machine("zen3-epyc-2vcpu"))}
    assert environment_differences(stored, zen3)[0].startswith("machine: Zen 5 (AMD EPYC 9R45")
