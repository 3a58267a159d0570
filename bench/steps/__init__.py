"""Build steps, one module per step. Each registers itself into bench.specs on import;
bench.registry.load_all imports them all."""

from bench.steps import (  # noqa: F401
    distilled,
    full,
    int8,
    int8_static,
    lora,
    onnx_export,
    openvino,
    precision,
    pruned,
    tensorrt,
)
