"""Runtimes register themselves on import (see bench.registry)."""

from bench.runtimes import onnxruntime, tensorrt, torch_eager  # noqa: F401
