"""Build steps, one module per step. Each registers itself into bench.specs on import;
bench.registry.load_all imports them all."""

from bench.steps import distilled, full, int8, lora, onnx_export, precision, pruned, tensorrt  # noqa: F401
