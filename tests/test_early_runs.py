"""The early runs of tests/conftest.py: started before the first test, read by tests that run last, a
starter that fails fails only its readers, a run not yet reached runs in its reader, and a run still
going at the end of the session is stopped."""

import os
import sys
import threading

import pytest

from tests.conftest import EarlyRun, early_run

ORDER: list[str] = []


@early_run("echo_run")
def start_echo_run(request) -> EarlyRun:
    d = request.getfixturevalue("tmp_path_factory").mktemp("echo")
    return EarlyRun([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
                    dict(os.environ), d, out=d)


@early_run("broken_run")
def start_broken_run(request) -> EarlyRun:
    raise FileNotFoundError("no tiny model")


@pytest.fixture(scope="module")
def echo_run(early_runs):
    return early_runs["echo_run"]


@pytest.fixture(scope="module")
def broken_run(early_runs):
    return early_runs


def test_a_reader_runs_after_the_tests_that_read_no_early_run_and_gets_the_finished_run(echo_run):
    assert "plain" in ORDER  # moved after test_a_plain_test_of_this_module (and every other plain test)
    done = echo_run.wait(timeout_s=120)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert echo_run.proc.poll() == 3 and echo_run.out.is_dir()


def test_a_starter_that_raises_fails_only_its_readers(broken_run):
    with pytest.raises(RuntimeError, match="starting the early run 'broken_run' failed") as failed:
        broken_run["broken_run"]
    assert isinstance(failed.value.__cause__, FileNotFoundError)


def test_a_stopped_run_is_killed_or_never_started(tmp_path):
    queued = EarlyRun([sys.executable, "-c", "print('never')"], dict(os.environ), tmp_path)
    queued.stop()
    queued.run()
    assert queued.proc is None and queued.done.is_set()
    with pytest.raises(RuntimeError, match="stopped before it started"):
        queued.wait(timeout_s=5)
    running = EarlyRun([sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), tmp_path)
    thread = threading.Thread(target=running.run)
    thread.start()
    while running.proc is None and thread.is_alive():
        thread.join(0.05)
    running.stop()
    thread.join(30)
    assert not thread.is_alive() and running.proc.returncode < 0  # killed by a signal


def test_a_run_the_queue_has_not_reached_runs_in_its_reader(tmp_path):
    unqueued = EarlyRun([sys.executable, "-c", "print('here')"], dict(os.environ), tmp_path)
    assert unqueued.wait(timeout_s=120).stdout == "here\n"
    unqueued.run()  # taken already: does nothing
    assert unqueued.proc.returncode == 0


def test_a_plain_test_of_this_module():
    ORDER.append("plain")
