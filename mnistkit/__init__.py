"""mnistkit: the helpers behind the MNIST teaching notebooks.

Submodules load on first use (``import mnistkit as mk; mk.data.load_mnist()``), so
``python -m mnistkit fetch`` does not pay for importing TensorFlow. Importing the package does nothing else:
a notebook calls ``mk.import_tensorflow_quietly()`` before ``import keras`` to keep TensorFlow's start-up lines out.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys

__version__ = "0.1.0"
__all__ = ["checks", "config", "data", "deploy", "distributed", "evaluate", "experiments", "idx", "images", "machine",
           "models", "plots", "results", "runtimes", "training", "tuning"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mnistkit' has no attribute {name!r}")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null for the duration.

    TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) ignore TF_CPP_MIN_LOG_LEVEL and would land in
    every notebook's first cell as stderr. Python errors still raise as usual once stderr is back.
    Does nothing when TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ log lines (benign graph warnings)
    with quiet_stderr():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null inside the block, for C++ log lines that ignore Python's logging
    (TensorFlow's start-up, TFLite's converter and interpreter)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def tensorflow_log_level(level: str):
    """Raise TensorFlow's Python logger to ``level`` (e.g. ``"ERROR"``) inside the block, then restore it."""
    import tensorflow as tf

    logger = tf.get_logger()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)

