"""Exported models run in their own runtimes (Keras, SavedModel, LiteRT, ONNX Runtime), compared side by side (09).

Each runtime is wrapped in a ``Runtime``: ``predict(x)`` returns class probabilities for float32 28x28 images, and
``size`` is the bytes on disk. ``compare`` measures accuracy, agreement with a reference and latency for several
runtimes in one run, taking turns, so a busy machine slows them all alike.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import quiet_stderr
from .checks import check_labels, check_one_label_per_image, check_pixels, check_positive_ints

# What each format is for: the table's last column.
PURPOSE = {
    "Keras": "training and Python; the source of the others",
    "SavedModel": "servers: TensorFlow Serving, TF in any language",
    "LiteRT": "phones (Android, iOS) and edge devices",
    "ONNX": "ONNX Runtime: servers, desktops, browsers (onnxruntime-web)",
}
INSTALL = "pip install -e '.[deploy]' (tf2onnx, onnxruntime, ai-edge-litert)"


def disk_size(path: str | Path) -> int:
    """Bytes of a file, or of every file in a folder (a SavedModel)."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(repr=False)
class Runtime:
    """One model in one runtime: ``call(batch) -> probabilities``, with its format, variant and file."""

    format: str
    variant: str
    path: Path | None
    call: object = field(repr=False)

    def predict(self, x, *, batch_size: int = 256) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return np.concatenate([np.asarray(self.call(x[i: i + batch_size]), dtype=np.float32)
                               for i in range(0, len(x), batch_size)])

    @property
    def size(self) -> int:
        return disk_size(self.path) if self.path is not None else 0

    def __repr__(self) -> str:
        return f"Runtime({self.format} {self.variant}, {self.path.name if self.path else 'in memory'})"


def keras_runtime(model, path: str | Path | None = None) -> Runtime:
    """The Keras model itself, called in inference mode (``path``: its ``.keras`` file, for the size)."""
    return Runtime("Keras", "float32", Path(path) if path else None,
                   lambda batch: model(batch, training=False).numpy())


def export_path(path: str | Path, fmt: str) -> Path:
    """``path`` if it holds an export a runtime of format ``fmt`` can open, else one ValueError naming what it needs."""
    path, suffix = Path(path), {"LiteRT": ".tflite", "ONNX": ".onnx"}.get(fmt)
    if (path / "saved_model.pb").is_file() if suffix is None else (path.is_file() and path.suffix == suffix):
        return path
    found = "no such file or folder" if not path.exists() else "a folder" if path.is_dir() else "a file"
    needed = "a SavedModel folder (export_saved_model writes one)" if suffix is None else f"a {suffix} file"
    raise ValueError(f"{path}: {found}; the {fmt} runtime opens {needed}")


def savedmodel_runtime(path: str | Path) -> Runtime:
    """A SavedModel written by ``mnistkit.deploy.export_saved_model``, through its ``serve`` endpoint."""
    import tensorflow as tf

    served = tf.saved_model.load(str(export_path(path, "SavedModel")))
    return Runtime("SavedModel", "float32", Path(path), lambda batch: served.serve(batch).numpy())


def litert_runtime(path: str | Path, *, variant: str = "float32", threads: int | None = None) -> Runtime:
    """A ``.tflite`` file in the LiteRT interpreter (``ai-edge-litert``), resized to each batch it is given.
    ``variant`` labels it in ``compare``'s table; ``threads`` (default: every core) joins the label when given."""
    path = export_path(path, "LiteRT")
    if threads is not None:
        check_positive_ints(threads=threads)
        variant = f"{variant}, {threads} thread{'s' * (threads > 1)}"
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ImportError(f"LiteRT needs the ai-edge-litert package: {INSTALL}") from exc
    with quiet_stderr():
        interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    shape = [None]

    def call(batch):
        if shape[0] != batch.shape:
            interpreter.resize_tensor_input(inp["index"], batch.shape)
            with quiet_stderr():
                interpreter.allocate_tensors()
            shape[0] = batch.shape
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return Runtime("LiteRT", variant, Path(path), call)


def onnx_runtime(path: str | Path) -> Runtime:
    """An ``.onnx`` file in ONNX Runtime (CPU)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError(f"ONNX Runtime needs the onnxruntime package: {INSTALL}") from exc
    session = ort.InferenceSession(str(export_path(path, "ONNX")), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return Runtime("ONNX", "float32", Path(path), lambda batch: session.run(None, {name: batch})[0])


def median_ms(call, batch, repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``call(batch)``, in milliseconds (warm it up first)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(batch)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def compare(runtimes, x, y, *, reference, batch_size: int = 256, single: int = 50, rounds: int = 3,
            timing_images: int = 1024) -> pd.DataFrame:
    """Accuracy, agreement and latency of each runtime on the same images, measured side by side.

    Parameters
    ----------
    runtimes : sequence of Runtime
    x, y : arrays
        Images (float32 in [0, 1]) and labels; every runtime predicts all of them.
    reference : array of int
        The classes the Keras model predicts on ``x``: "agreement" is the share of images given the same class.
    batch_size : int, default=256
    single : int, default=50
        Batch-1 calls per round; the median is reported.
    rounds : int, default=3
        Timing rounds; in each, every runtime takes its turn, so a slow spell slows them alike.
    timing_images : int, default=1024
        Images timed at ``batch_size`` per round (reported per 1 000 images).

    Returns
    -------
    pandas.DataFrame
        One row per runtime: format, variant, size (KB), test accuracy, agreement, ms per image at batch 1,
        ms per 1 000 images at ``batch_size``, and what the format is for.
    """
    check_positive_ints(batch_size=batch_size, single=single, rounds=rounds, timing_images=timing_images)
    y, reference = check_labels(y=y, reference=reference)
    check_pixels("x", x)
    x = np.asarray(x, dtype=np.float32)
    check_one_label_per_image(x, y)
    rows = []
    for rt in runtimes:
        proba = rt.predict(x, batch_size=batch_size)  # also the warm-up of every batch shape timed below
        pred = proba.argmax(1)
        rows.append({"format": rt.format, "variant": rt.variant, "size (KB)": rt.size / 1024,
                     "test accuracy": float(np.mean(pred == y)), "agreement": float(np.mean(pred == reference)),
                     "batch1": [], "batch": []})
        rt.call(x[:1])
    timed = x[:timing_images]
    for _ in range(rounds):
        for rt, row in zip(runtimes, rows):
            row["batch1"].append(median_ms(rt.call, x[:1], single))
            start = time.perf_counter()
            rt.predict(timed, batch_size=batch_size)
            row["batch"].append((time.perf_counter() - start) * 1000 * 1000 / len(timed))
    for row in rows:
        row["ms/image (batch 1)"] = float(np.median(row.pop("batch1")))
        row[f"ms/1000 (batch {batch_size})"] = float(np.median(row.pop("batch")))
        row["for"] = PURPOSE.get(row["format"], "")
    return pd.DataFrame(rows)


def int8_weights(path: str | Path) -> dict:
    """The int8 weight tensors of a quantised ``.tflite`` file: ``{name: (integers, scales)}``.

    A weight is stored as an integer from -127 to 127; its value is that integer times its output channel's scale
    (``scales`` has one entry per channel, along the tensor's first axis).
    """
    from ai_edge_litert.interpreter import Interpreter

    with quiet_stderr():
        interpreter = Interpreter(model_path=str(path))
    found = {}
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] == np.int8 and len(detail["shape"]) >= 2:
            try:
                values = interpreter.get_tensor(detail["index"])
            except ValueError:  # an activation, not a constant: no data until the model runs
                continue
            found[detail["name"]] = (values.copy(), detail["quantization_parameters"]["scales"].copy())
    return found
