"""Deployment: load a saved model safely, make it portable (inference only), and export it (08, 09).

``load_model`` opens any ``.keras`` file the notebooks save, whatever mnistkit layers it holds, and turns every
failure into one ``ModelLoadError`` that names the file and the remedy. ``inference_model`` drops the layers
that only act while training (mnistkit's ``RandomShiftRotate`` and Keras' ``Random*`` augmentation), so the
result holds standard Keras layers only and ``keras.saving.load_model`` opens it without mnistkit installed.
"""
from __future__ import annotations

import contextlib
import math
import warnings
import zipfile
from pathlib import Path

from . import import_tensorflow_quietly, quiet_stderr, tensorflow_log_level

import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np  # noqa: E402

from . import config, models  # noqa: E402,F401  models registers mnistkit's layers, so load_model finds them
from .checks import check_keras_path  # noqa: E402
from .files import atomic_write, atomic_write_dir  # noqa: E402


class ModelLoadError(RuntimeError):
    """A model file that cannot be opened; the message names the file and what to do."""


def load_model(path: str | Path, *, compile: bool = False) -> keras.Model:
    """Open a ``.keras`` model saved by the notebooks (or by anyone), for prediction.

    Parameters
    ----------
    path : str or Path
        A ``.keras`` file.
    compile : bool, default=False
        Restore the optimizer and loss too; prediction needs neither.

    Raises
    ------
    ModelLoadError
        If the file is missing, not a ``.keras`` archive, damaged, or uses layers nobody registered.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelLoadError(f"{path}: a folder (a SavedModel export?), not a .keras file; pass the .keras file, "
                             f"e.g. {config.artifacts_dir() / 'export' / 'mnist_best.keras'}")
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file; check the path, or run notebook 05, 06, 07 or 08 "
                             f"(make run) to save one under artifacts/<profile>/")
    if path.suffix in (".tflite", ".onnx"):
        raise ModelLoadError(f"{path}: an export for another runtime, not a .keras file; pass the model.keras saved "
                             f"beside it (notebook 09), or run the file with mnistkit.runtimes")
    if path.suffix != ".keras":
        raise ModelLoadError(f"{path}: not a .keras model file; save models with model.save('name.keras')")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there
        raise ModelLoadError(f"{path}: not a .keras archive (empty, cut short or another format); save it again, "
                             f"e.g. rerun the notebook that wrote it")
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError, zipfile errors ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "safe_mode" in str(exc) or "arbitrary code execution" in str(exc):  # not damage: Keras' safety check
            raise ModelLoadError(f"{path}: holds Python code (a Lambda layer), which Keras will not load from a file "
                                 f"unless told the file is trusted; if it is, load it in Python with "
                                 f"keras.saving.load_model(path, safe_mode=False), or rebuild the model without "
                                 f"Lambda layers") from exc
        raise ModelLoadError(f"{path}: cannot load this model ({type(exc).__name__}: {reason[:200]}); "
                             f"the file is damaged or was not saved by Keras 3: save it again, e.g. rerun the "
                             f"notebook that wrote it") from exc
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model


def is_training_only(layer: keras.layers.Layer) -> bool:
    """True for augmentation layers, which pass images through unchanged at inference time."""
    return isinstance(layer, models.RandomShiftRotate) or (
        type(layer).__module__.startswith("keras") and type(layer).__name__.startswith("Random"))


def inference_model(model: keras.Model) -> keras.Model:
    """The same model without its training-only layers, sharing its weights: what ``export`` writes.

    Every augmentation layer becomes ``keras.layers.Identity`` (what it computes at inference time), so the
    predictions are unchanged and the model holds standard Keras layers only. Nested models are walked too.
    """
    def clone(layer):
        if is_training_only(layer):
            return keras.layers.Identity(name=layer.name)
        if isinstance(layer, keras.Model) and any(is_training_only(inner) for inner in _all_layers(layer)):
            return inference_model(layer)
        return layer

    if not any(is_training_only(layer) for layer in _all_layers(model)):
        return model
    portable = keras.models.clone_model(model, clone_function=clone)
    portable.name = model.name  # clone_model keeps it; stated here because the saved files carry it
    return portable


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def save_portable(model: keras.Model, path: str | Path) -> Path:
    """Save ``inference_model(model)`` as a ``.keras`` file, atomically, without optimizer state.

    The file opens with plain ``keras.saving.load_model`` on a machine without mnistkit.
    """
    path = check_keras_path(path)
    portable = inference_model(model)
    return atomic_write(path, lambda tmp: portable.save(tmp, include_optimizer=False))


def export_saved_model(model: keras.Model, path: str | Path) -> Path:
    """Export ``inference_model(model)`` as a TensorFlow SavedModel for serving, atomically.

    The ``serve`` endpoint takes a float32 batch of 28x28 images scaled to [0, 1] and returns the ten class
    probabilities. It calls the model with ``training=False``; the augmentation layers are gone anyway, so
    the same image always gets the same answer. A killed export leaves the previous folder intact. ``path`` is a
    folder: a new one, or an earlier SavedModel, which it replaces; anything else there raises ValueError.
    """
    import tensorflow as tf

    path = Path(path)
    if path.exists() and not (path / "saved_model.pb").is_file() and (path.is_file() or any(path.iterdir())):
        raise ValueError(f"{path} is {'a file' if path.is_file() else 'a folder of other files'}, not a SavedModel "
                         f"to replace; give a new folder for the export")
    portable = inference_model(model)
    archive = keras.export.ExportArchive()
    archive.track(portable)
    signature = [tf.TensorSpec((None, *portable.input_shape[1:]), tf.float32, name="images")]
    archive.add_endpoint("serve", tf.function(lambda images: portable(images, training=False)), signature)

    def write(folder: Path) -> None:
        with tensorflow_log_level("WARNING"):   # TensorFlow logs "INFO: Assets written to ..." otherwise
            archive.write_out(str(folder), verbose=False)

    return atomic_write_dir(path, write)


@contextlib.contextmanager
def quiet_export():
    """Silence what exporting and converting print besides errors: C++ log lines, TensorFlow's INFO lines
    ("Assets written to ..."), tf2onnx's FutureWarning about NumPy."""
    with quiet_stderr(), tensorflow_log_level("ERROR"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def check_classifier(model: keras.Model, *, where: str = "the model") -> None:
    """Refuse a model that is not a 28x28-image -> 10-class classifier, naming what it is instead."""
    inputs, outputs = model.inputs, model.outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelLoadError(f"{where} has {len(inputs)} inputs and {len(outputs)} outputs; a digit classifier has "
                             f"one of each")
    size, classes = math.prod(d or 1 for d in inputs[0].shape[1:]), outputs[0].shape[-1]
    if size != 28 * 28 or classes != 10 or len(outputs[0].shape) != 2:
        raise ModelLoadError(f"{where} maps {tuple(inputs[0].shape[1:])} to {tuple(outputs[0].shape[1:])}; a digit "
                             f"classifier maps 28x28 images to 10 probabilities")


def predict_probabilities(model: keras.Model, images) -> np.ndarray:
    """Class probabilities for a batch of 28x28 images in [0, 1], reshaped to the model's input and checked.

    Raises
    ------
    ValueError
        If the outputs are not probabilities (each row ten numbers in [0, 1] summing to 1), e.g. a model
        whose last layer has no softmax: its outputs are logits, and a "confidence" would be meaningless.
    """
    x = np.asarray(images, dtype=np.float32).reshape((-1, *(d or 1 for d in model.inputs[0].shape[1:])))
    proba = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    check_probabilities(proba)
    return proba


def check_probabilities(proba: np.ndarray) -> None:
    """Raise ``ValueError`` unless every row of ``proba`` is ten numbers in [0, 1] that sum to 1."""
    if proba.ndim != 2 or proba.shape[1] != 10:
        raise ValueError(f"the model returned shape {proba.shape}; expected (n, 10) class probabilities")
    if not np.all(np.isfinite(proba)):
        raise ValueError("the model's outputs are NaN or infinite: its weights are broken (training diverged?); "
                         "train it again, e.g. with a lower learning rate")
    sums = proba.sum(axis=1)
    if proba.min() < -1e-6 or np.abs(sums - 1).max() > 1e-3:
        raise ValueError(f"the model's outputs are not probabilities (rows sum to {sums.min():.3g}..{sums.max():.3g}, "
                         f"values {proba.min():.3g}..{proba.max():.3g}); give its last layer activation='softmax'")
