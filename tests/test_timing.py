from bench.timing import StopRule, time_calls


class FakeClock:
    """Each call to the timed function advances time by `step_ns`; reading the clock costs nothing."""

    def __init__(self, step_ns: int):
        self.now, self.step_ns, self.calls = 0, step_ns, []

    def __call__(self) -> int:
        return self.now

    def work(self, i: int) -> None:
        self.calls.append(i)
        self.now += self.step_ns


def test_min_iterations_dominates_when_calls_are_slow_enough():
    clock = FakeClock(step_ns=10_000_000)  # 10 ms per call
    rule = StopRule(warmup_iterations=3, min_iterations=50, min_duration_s=0.1, max_duration_s=10)
    out = time_calls(clock.work, rule, clock=clock)
    assert len(out.warmup_ns) == 3 and len(out.samples_ns) == 50
    assert out.stopped_by == "rule"
    assert clock.calls[:4] == [0, 1, 2, 3]  # warm-up calls come first and are not samples


def test_min_duration_dominates_for_fast_calls():
    clock = FakeClock(step_ns=1_000_000)  # 1 ms
    rule = StopRule(warmup_iterations=0, min_iterations=5, min_duration_s=0.2, max_duration_s=10)
    out = time_calls(clock.work, rule, clock=clock)
    assert len(out.samples_ns) == 200
    assert all(s == 1_000_000 for s in out.samples_ns)


def test_max_duration_cuts_slow_cells_and_says_so():
    clock = FakeClock(step_ns=3_000_000_000)  # 3 s
    rule = StopRule(warmup_iterations=1, min_iterations=20, min_duration_s=1, max_duration_s=10)
    out = time_calls(clock.work, rule, clock=clock)
    assert len(out.samples_ns) == 4 and out.stopped_by == "max_duration"


def test_synchronize_runs_inside_the_timed_region():
    clock = FakeClock(step_ns=1_000)

    def sync():
        clock.now += 5_000  # the device finishing its queued work

    out = time_calls(clock.work, StopRule(0, 3, 0, 1), clock=clock, synchronize=sync)
    assert list(out.samples_ns) == [6_000, 6_000, 6_000]


def test_warmup_is_capped_by_time():
    clock = FakeClock(step_ns=4_000_000_000)  # 4 s
    rule = StopRule(warmup_iterations=5, min_iterations=2, min_duration_s=0, max_duration_s=60, max_warmup_s=6)
    out = time_calls(clock.work, rule, clock=clock)
    assert len(out.warmup_ns) == 2 and len(out.samples_ns) == 2
    assert clock.calls == [0, 1, 2, 3]


def test_reference_is_timed_beside_each_sample_and_kept_out_of_it():
    clock = FakeClock(step_ns=4_000_000)

    def reference():
        clock.now += 1_000_000  # 1 ms of reference work

    rule = StopRule(warmup_iterations=2, min_iterations=10, min_duration_s=0.0, max_duration_s=10)
    out = time_calls(clock.work, rule, clock=clock, reference=reference)
    assert len(out.reference_ns) == len(out.samples_ns) == 10
    assert set(out.samples_ns) == {4_000_000} and set(out.reference_ns) == {1_000_000}


def test_warmup_runs_at_least_min_warmup_s_for_clocks_to_settle():
    clock = FakeClock(step_ns=100_000_000)  # 100 ms
    rule = StopRule(warmup_iterations=2, min_iterations=1, min_duration_s=0, max_duration_s=60, min_warmup_s=1.0)
    out = time_calls(clock.work, rule, clock=clock)
    assert len(out.warmup_ns) == 10 and len(out.samples_ns) == 1


class FakeDeviceClock:
    """CUDA events on a fake device: the device works 3 ms per call, queued at launch."""

    def __init__(self, host: FakeClock):
        self.host, self.events = host, []

    def start(self):
        self.events.append(("start", len(self.host.calls)))

    def stop(self):
        self.events.append(("stop", len(self.host.calls)))

    def elapsed_ns(self):
        return 3_000_000


def test_device_clock_brackets_the_same_call_as_the_host_clock():
    clock = FakeClock(step_ns=1_000_000)  # 1 ms to launch

    def sync():
        clock.now += 2_000_000  # then 2 ms waiting for the device

    device = FakeDeviceClock(clock)
    out = time_calls(clock.work, StopRule(1, 4, 0, 10), clock=clock, synchronize=sync, device_clock=device)
    assert list(out.samples_ns) == [3_000_000] * 4 and list(out.device_ns) == [3_000_000] * 4
    # warm-up is not bracketed; each sample's events surround exactly one call
    assert device.events == [("start", 1), ("stop", 2), ("start", 2), ("stop", 3), ("start", 3), ("stop", 4),
                             ("start", 4), ("stop", 5)]
    plain = time_calls(clock.work, StopRule(0, 2, 0, 10), clock=clock)
    assert plain.device_ns == ()
