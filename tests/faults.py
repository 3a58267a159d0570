"""Worker jobs that fail on purpose (run in a real spawned worker by test_launcher)."""

import os
import signal
import time


def ok(job, progress):
    progress("working", 1, 1)
    return {"value": 42}


def raise_error(job, progress):
    print("about to fail")
    raise RuntimeError("injected failure")


def kill_self(job, progress):
    os.kill(os.getpid(), signal.SIGSEGV)


def sleep_forever(job, progress):
    time.sleep(3600)


def exit_quietly(job, progress):
    os._exit(7)


def allocate_forever(job, progress):
    chunks = []
    while True:
        chunks.append(bytearray(64 << 20))  # 64 MiB, touched (bytearray zero-fills)
        time.sleep(0.05)


def raise_out_of_memory(job, progress):
    class OutOfMemoryError(RuntimeError):  # the name torch.cuda uses
        pass

    raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def device_busy(job, progress):
    from bench.gpu import check_isolation

    check_isolation("refuse", [{"pid": 1, "memory_mib": 100.0}], "before the cell")
