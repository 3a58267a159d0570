"""Does this machine stand for the chosen profile? A dollar figure priced as another instance than the
one measured is the worst error a cost profiler can make (issue #16), so every difference that
changes a result is named with both sides: vendor, microarchitecture, ISA features, usable cores
for CPU profiles; the GPU (by bench.gpu.match_profile, as `--profile auto` does) for CUDA ones.

Imports no torch; callers pass a bench.machine.Machine and bench.config.Profile objects.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from bench.config import LOCAL_PROFILE, ConfigError, Profile
from bench.gpu import match_profile
from bench.machine import ISA_LABELS, Machine


def _labels(features) -> str:
    return ", ".join(ISA_LABELS.get(f, f) for f in features)


def _isa_mismatches(machine: Machine, profile: Profile, mine: str) -> list[str]:
    wanted, have = set(profile.isa or ()), set(machine.isa)
    out = []
    lacking = [f for f in profile.isa or () if f not in have]
    extra = [f for f in machine.isa if f not in wanted]
    if lacking:
        out.append(f"ISA: this machine ({mine}) lacks {_labels(lacking)}, which profile {profile.name} has")
    if extra and profile.isa is not None:
        # faster kernels here than on the instance priced (e.g. AVX-512 VNNI int8 against AVX2)
        out.append(f"ISA: this machine ({mine}) has {_labels(extra)}, which profile {profile.name} lacks")
    return out


def _cpu_mismatches(machine: Machine, profile: Profile) -> list[str]:
    mine = machine.cpu_model_name
    out = []
    if profile.cpu_vendor and profile.cpu_vendor != machine.cpu_vendor:
        out.append(f"CPU vendor: this machine is {machine.cpu_vendor} ({mine}), "
                   f"profile {profile.name} stands for {profile.cpu_vendor}")
    if profile.microarchitecture and profile.microarchitecture != machine.microarchitecture:
        out.append(f"microarchitecture: this machine is {machine.microarchitecture or 'unknown'} ({mine}), "
                   f"profile {profile.name} stands for {profile.microarchitecture}")
    out += _isa_mismatches(machine, profile, mine)
    if profile.vcpus and profile.vcpus != machine.usable_cores:
        out.append(f"usable cores: this machine gives bench {machine.usable_cores}, "
                   f"profile {profile.name} stands for {profile.vcpus} vCPUs")
    return out


def _gpu_mismatches(machine: Machine, profile: Profile) -> list[str]:
    wanted = profile.gpu_name_contains or "a GPU"
    if not machine.gpus:
        return [f"GPU: this machine has no NVIDIA GPU, profile {profile.name} stands for {wanted}"]
    out = []
    if profile.gpu_name_contains and match_profile(machine.gpus[0].name, [profile]) is None:
        out.append(f"GPU: this machine has {machine.gpus[0].name}, profile {profile.name} stands for {wanted}")
    if profile.gpu_count and len(machine.gpus) < profile.gpu_count:
        out.append(f"GPU count: this machine has {len(machine.gpus)}, profile {profile.name} "
                   f"stands for {profile.gpu_count}")
    return out


def check_profile(machine: Machine, profile: Profile) -> list[str]:
    """Every way `machine` differs from what `profile` stands for, one line each naming both sides;
    [] when it matches. A field the profile leaves out is not checked. CUDA profiles are checked on
    the GPU only: their vCPUs are the host's share, not what the measured kernels run on."""
    if profile.device == "cuda":
        return _gpu_mismatches(machine, profile)
    return _cpu_mismatches(machine, profile)


def matching_profiles(machine: Machine, profiles: list[Profile]) -> list[Profile]:
    """The profiles this machine stands for, for the message that refuses a mismatch."""
    return [p for p in profiles if not check_profile(machine, p)]


def _cheapest(profiles: list[Profile]) -> Profile | None:
    priced = sorted(profiles, key=lambda p: (p.price_usd_per_hour or float("inf"), p.name))
    return priced[0] if priced else None


def auto_profile(machine: Machine, profiles: list[Profile]) -> Profile | None:
    """`--profile auto`: with a GPU, the CUDA profile bench.gpu.match_profile picks (if it matches in
    full); without, the CPU profile that matches exactly, the cheapest where two clouds sell the same
    hardware. None when nothing matches: the caller falls back to local_profile."""
    if machine.gpus:
        hit = match_profile(machine.gpus[0].name, profiles)
        return hit if hit is not None and not check_profile(machine, hit) else None
    return _cheapest([p for p in matching_profiles(machine, profiles) if p.device == "cpu"])


def local_profile(machine: Machine, price_usd_per_hour: float | None = None) -> Profile:
    """The `local` profile: this machine, at the price the user gives; without one, no price (the
    reports then say `no price` rather than invent one)."""
    priced = price_usd_per_hour is not None
    return Profile(
        name=LOCAL_PROFILE, description=f"this machine: {machine.describe()}",
        device="cuda" if machine.gpus else "cpu", instance="this machine",
        price_usd_per_hour=price_usd_per_hour,
        price_source="given by the user (--price-usd-per-hour)" if priced else None,
        price_date=datetime.date.today().isoformat() if priced else None,
        vcpus=machine.usable_cores, cpu_vendor=machine.cpu_vendor,
        microarchitecture=machine.microarchitecture, isa=list(machine.isa),
        gpu_name_contains=machine.gpus[0].name if machine.gpus else None,
        gpu_count=len(machine.gpus) or None)


@dataclass(frozen=True)
class ProfileChoice:
    """The profile a run is priced as, and how it relates to the machine measured.

    status: "match" (the machine is what the profile stands for), "mismatch_allowed" (it is not, and
    the user said --allow-profile-mismatch: every dollar figure is labelled), "local" (this machine at
    the user's price, or none)."""

    profile: Profile
    status: str
    mismatches: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict:
        """What run.json keeps under environment["profile_check"]."""
        return {"status": self.status, "mismatches": list(self.mismatches), "profile": self.profile.name}


def _shipped_names(profiles: list[Profile]) -> str:
    return ", ".join(p.name for p in profiles) or "none"


def _refusal(machine: Machine, profile: Profile, mismatches: list[str], shipped: list[Profile]) -> str:
    fits = [p for p in matching_profiles(machine, shipped) if p.device == profile.device]
    return (f"this machine ({machine.describe()}) is not what profile {profile.name} ({profile.instance}) "
            f"stands for: {'; '.join(mismatches)}. Shipped profiles that match this machine: "
            f"{_shipped_names(fits)}. Use --profile auto (a matching profile, else 'local'), --profile local "
            f"--price-usd-per-hour P, or --allow-profile-mismatch to measure here and price as {profile.name} "
            f"(every dollar figure is then labelled 'measured on ..., priced as {profile.name}')")


def _local(machine: Machine, price_usd_per_hour: float | None, why: str) -> ProfileChoice:
    price = (f"at ${price_usd_per_hour:g}/h (given)" if price_usd_per_hour is not None
             else "with no price: dollar columns say 'no price' (give --price-usd-per-hour)")
    return ProfileChoice(local_profile(machine, price_usd_per_hour), "local",
                         note=f"{why}; measuring as 'local' (this machine) {price}")


def choose_profile(requested: str, machine: Machine, shipped: list[Profile], load: Callable[[str], Profile], *,
                   allow_mismatch: bool = False, price_usd_per_hour: float | None = None) -> ProfileChoice:
    """Resolve `--profile` (a name or path, `auto` or `local`) against the machine measured.

    Raises ConfigError (exit 2) when the named profile stands for other hardware and mismatches are
    not allowed, naming both sides and the shipped profiles that match; or when a price is given for
    a profile that has its own."""
    where = f"--profile {requested}"
    if requested == "auto":
        hit = auto_profile(machine, shipped)
        if hit is not None:
            return ProfileChoice(hit, "match", note=f"--profile auto: this machine ({machine.describe()}) -> "
                                                      f"profile {hit.name} ({hit.instance})")
        return _local(machine, price_usd_per_hour,
                      f"--profile auto: no shipped profile matches this machine ({machine.describe()})")
    if requested == LOCAL_PROFILE:
        return _local(machine, price_usd_per_hour, f"--profile local: {machine.describe()}")
    if price_usd_per_hour is not None:
        raise ConfigError(where, "--price-usd-per-hour prices the 'local' profile (--profile local or auto); "
                          "a named profile has its own price with its source")
    profile = load(requested)
    mismatches = check_profile(machine, profile)
    if not mismatches:
        return ProfileChoice(profile, "match")
    if not allow_mismatch:
        raise ConfigError(where, _refusal(machine, profile, mismatches, shipped))
    return ProfileChoice(profile, "mismatch_allowed", tuple(mismatches),
                         note=f"measured on {machine.describe()}, priced as {profile.name} ({profile.instance}): "
                              + "; ".join(mismatches))
