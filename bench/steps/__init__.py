"""Build steps register themselves on import (see bench.registry). One module per step."""

from bench.steps import distilled, full, int8, lora, onnx_export, precision, pruned, tensorrt  # noqa: F401
