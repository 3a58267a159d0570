"""bench: a cost-performance profiler for fine-tuned transformer models."""

__version__ = "0.1.0"
