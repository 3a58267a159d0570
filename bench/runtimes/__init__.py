"""Runtimes register themselves on import into bench.specs (bench.registry.load_all imports them all)."""

from bench.runtimes import onnxruntime, openvino, tensorrt, torch_compile, torch_eager  # noqa: F401
