"""Build steps register themselves on import (see bench.registry). One module per step."""

from bench.steps import full, onnx_export  # noqa: F401
