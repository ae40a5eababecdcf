"""Deployment: load a saved model safely (08, ``python -m mnistkit predict``).

``load_model`` opens any ``.keras`` file the notebooks save, whatever mnistkit layers it holds, and turns every
failure into one ``ModelLoadError`` that names the file and the remedy.
"""
from __future__ import annotations

from pathlib import Path

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras  # noqa: E402

from . import models  # noqa: E402,F401  registers mnistkit's layers, so load_model can find them


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
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file; pass --model PATH.keras, or run notebook 07 or 08 "
                             f"(make run) to save one")
    if path.suffix != ".keras":
        raise ModelLoadError(f"{path}: not a .keras model file; save models with model.save('name.keras')")
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError, zipfile errors ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path}: cannot load this model ({type(exc).__name__}: {reason[:200]}); "
                             f"the file is damaged or was not saved by Keras 3: save it again, e.g. rerun the "
                             f"notebook that wrote it") from exc
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model
