"""The words every output uses for the hardware a run was measured on and the profile it was priced as
(issue #16): one home, so the terminal, report.md/html, cells.csv, plan and compare say the same thing.

A run record holds `environment["machine"]` (identity of the machine measured; absent in runs written
before it existed, which fall back to `cpu_model`/`gpu_name`), `profile` (the hardware and price it
was priced as; `price_usd_per_hour` may be None for the `local` profile) and
`environment["profile_check"]` ({"status": "match" | "mismatch_allowed" | "local" | "unchecked",
"mismatches": [...], "profile": name}; absent = "unchecked"), and for a run measured on a Ray cluster
node `environment["cluster"]` (its `simulated` flag: the node only plays its profile).
"""

from __future__ import annotations

from bench.cost import NO_PRICE

NO_PRICE_HINT = "no price (give --price-usd-per-hour or a profile file)"
CHECK_STATUSES = ("match", "mismatch_allowed", "local", "unchecked")


def machine_description(run) -> str:
    """One human line for the machine `run` was measured on: the recorded description, else (older
    runs) the CPU model, usable cores and GPU name of the environment."""
    return environment_description(run.environment)


def environment_description(env: dict) -> str:
    """machine_description of an environment dict (a run's, or a baseline snapshot's)."""
    machine = env.get("machine") or {}
    if machine.get("description"):
        return machine["description"]
    text = str(env.get("cpu_model") or "unknown CPU")
    if env.get("cpu_count"):
        text += f", {env['cpu_count']} usable cores"
    return text + (f", {env['gpu_name']}" if env.get("gpu_name") else "")


def profile_check(run) -> dict:
    """The recorded check of the machine against the profile; "unchecked" where the run predates it."""
    check = run.environment.get("profile_check") or {}
    return {"status": check.get("status") or "unchecked", "mismatches": list(check.get("mismatches") or []),
            "profile": check.get("profile") or run.profile.get("name")}


def has_price(profile: dict) -> bool:
    return profile.get("price_usd_per_hour") is not None


def is_mismatch(run) -> bool:
    """Measured on hardware other than the profile stands for (allowed by --allow-profile-mismatch)."""
    return profile_check(run)["status"] == "mismatch_allowed"


def profile_name(profile: dict) -> str:
    """"aws-c6a-large (AWS EC2 c6a.large)": the profile and the instance it stands for."""
    return f"{profile['name']} ({profile.get('instance') or 'unknown instance'})"


def price_text(profile: dict) -> str:
    """"$0.0765/h" or "no price"."""
    return f"${profile['price_usd_per_hour']:g}/h" if has_price(profile) else NO_PRICE


def pricing_label(run) -> str | None:
    """"measured on <machine>, priced as <profile> (<instance>)" when the run was measured on other
    hardware than its profile stands for, or on a simulated cluster node (which only plays its profile,
    even where the hardware happens to match); None otherwise (match, local or unchecked)."""
    if not (is_mismatch(run) or simulated_node(run)):
        return None
    return f"measured on {measured_on(run)}, priced as {profile_name(run.profile)}"


def priced_as(profile: dict) -> str:
    """"<profile> (<instance>, $X/h, <source>, <date>)", or "<profile> (<instance>): no price (...)"."""
    if not has_price(profile):
        return f"{profile_name(profile)}: {NO_PRICE_HINT}"
    parts = [profile.get("instance") or "unknown instance", price_text(profile)]
    parts += [str(profile[k]) for k in ("price_source", "price_date") if profile.get(k)]
    return f"{profile['name']} ({', '.join(parts)})"


def simulated_node(run) -> bool:
    """Measured on a cluster node that only plays its profile (`bench node --simulated`: tests, demos)."""
    return bool((run.environment.get("cluster") or {}).get("simulated"))


def measured_on(run) -> str:
    """The machine a run measured, "(simulated node)" appended where a cluster node only played its profile."""
    return machine_description(run) + (" (simulated node)" if simulated_node(run) else "")


def header_line(run) -> str:
    """The header of every run: "Measured on: <machine>. Priced as: <profile> (...).", saying where the
    machine was a simulated cluster node."""
    where = " (a simulated cluster node: it only plays the profile)" if simulated_node(run) else ""
    return f"Measured on: {machine_description(run)}{where}. Priced as: {priced_as(run.profile)}."


def mismatch_warning(run) -> str | None:
    """The warning shown above a mismatched run's figures: what differs, and that dollars are the profile's."""
    if not is_mismatch(run):
        return None
    differs = "; ".join(profile_check(run)["mismatches"]) or "the machine is not the hardware of the profile"
    return (f"Profile mismatch: {pricing_label(run)} (allowed by --allow-profile-mismatch). It differs: {differs}. "
            "Latency and throughput are this machine's; dollar figures apply its speed to another instance's price.")


def measured_and_priced(run) -> str:
    """"Measured on <machine>, priced as <profile> (<instance>), $X/h[, whether they agree]", or "...,
    not priced (<profile> (<instance>) has no price)": the opening of a recommendation."""
    if not has_price(run.profile):
        return f"Measured on {machine_description(run)}, not priced ({profile_name(run.profile)} has no price)"
    agreement = {"match": ", the hardware that profile stands for",
                 "mismatch_allowed": ", which stands for OTHER hardware (profile mismatch allowed)",
                 "local": ", this machine itself"}.get(profile_check(run)["status"], "")
    return (f"Measured on {machine_description(run)}, priced as {profile_name(run.profile)}, "
            f"{price_text(run.profile)}{agreement}")


def replica_name(profile: dict) -> str:
    """"one c6a.large replica", or for the local profile "one replica of this machine"."""
    return "one replica of this machine" if profile.get("name") == "local" else f"one {profile['instance']} replica"


def hardware_identity(run) -> dict:
    """What makes two runs' speeds comparable: microarchitecture (None in older runs), CPU model, GPU."""
    env = run.environment
    machine = env.get("machine") or {}
    gpus = machine.get("gpus")
    gpu = ", ".join(g.get("name") or "?" for g in gpus) if gpus else env.get("gpu_name")
    return {"microarchitecture": machine.get("microarchitecture"),
            "cpu_model": machine.get("cpu_model_name") or env.get("cpu_model"), "gpu": gpu or None}


def same_hardware(a: dict, b: dict) -> bool:
    """Two hardware_identity dicts agree; a microarchitecture is compared only where both runs know it."""
    if a["microarchitecture"] and b["microarchitecture"] and a["microarchitecture"] != b["microarchitecture"]:
        return False
    return a["cpu_model"] == b["cpu_model"] and a["gpu"] == b["gpu"]


def money(row, key: str, spec: str) -> str:
    """A dollar figure of `row` (a dict, or an object such as a PlanRow) formatted with `spec`
    (e.g. ".4f"): "no price" where the row's `priced` is False, "-" where the figure is missing."""
    def get(k, default=None):
        return row.get(k, default) if isinstance(row, dict) else getattr(row, k, default)

    if not get("priced", True):
        return NO_PRICE
    value = get(key)
    return "-" if value is None else format(value, spec)
