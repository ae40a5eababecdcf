"""mnistkit: the helpers behind the MNIST teaching notebooks.

Submodules load on first use (``import mnistkit as mk; mk.data.load_mnist()``), so
``python -m mnistkit fetch`` does not pay for importing TensorFlow.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["config", "data", "evaluate", "models", "plots", "results", "training", "tuning"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mnistkit' has no attribute {name!r}")
