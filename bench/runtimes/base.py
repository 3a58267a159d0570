"""What a runtime hands the measuring code: a loaded artifact that can run prepared batches.

`prepare` (outside the timed region) turns tokenized numpy arrays into whatever the runtime consumes
(tensors on the device, ORT feeds); `run` is the only call that is timed; `logits` converts its output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Session(ABC):
    device: str = "cpu"
    input_names: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")

    @abstractmethod
    def prepare(self, encoded: dict[str, np.ndarray]): ...

    @abstractmethod
    def run(self, prepared): ...

    @abstractmethod
    def logits(self, output) -> np.ndarray: ...

    def synchronize(self) -> None:
        """Wait until the device has finished (no-op on CPU)."""

    def device_clock(self):
        """A bench.timing.DeviceClock on the stream this session runs on, where bench can see it (CUDA)."""
        return None

    def describe(self) -> dict:
        return {}
