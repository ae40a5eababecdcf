"""Argument checks shared by every module: each raises ValueError naming what is valid, before any work starts."""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_real_positive(value) -> bool:
    return is_real(value) and value > 0


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (case-insensitive), else raise ValueError."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {', '.join(choices)}")
    return value.lower()


def check_positive_ints(**values) -> None:
    for label, value in values.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{label}={value!r} is not valid; use a positive integer")


def check_units(hidden, *, name: str = "hidden", example: str = "(256, 128)") -> tuple[int, ...]:
    """Layer sizes: a sequence of positive integers (empty means no such layer)."""
    if is_int(hidden):
        hidden = (hidden,)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) \
            or not all(is_int(u) and u > 0 for u in hidden):
        raise ValueError(f"{name}={hidden!r} is not valid; give a tuple of positive integers such as "
                         f"{example}, or () for none")
    return tuple(int(u) for u in hidden)


def check_sizes(**settings) -> None:
    """A *Your turn* cell's layer sizes, e.g. ``check_sizes(HIDDEN=HIDDEN)``: each a tuple of positive integers.
    ``(256)`` without its comma is the number 256, not a tuple: the error says to write ``(256,)``."""
    for name, value in settings.items():
        if is_int(value):
            raise ValueError(f"{name}={value!r} is a number, not a tuple: write ({value},), with the comma, "
                             f"for one layer of {value}")
        check_units(value, name=name)


def check_flags(**settings) -> None:
    """A *Your turn* cell's switches, e.g. ``check_flags(BATCH_NORM=BATCH_NORM)``: each True or False (the string
    ``"False"`` would count as true)."""
    for name, value in settings.items():
        check_flag(name, value)


def check_fraction(name: str, value) -> float:
    """A rate in [0, 1), such as dropout."""
    if not is_real(value) or not 0 <= value < 1:
        raise ValueError(f"{name}={value!r} is not valid; use a number in [0, 1), e.g. 0.2 (0 turns it off)")
    return float(value)


def check_l2(value) -> float:
    """An L2 penalty factor >= 0."""
    if not is_real(value) or value < 0:
        raise ValueError(f"l2={value!r} is not valid; use a number >= 0, e.g. 1e-4 (0 turns it off)")
    return float(value)


def check_learning_rate(value):
    """A positive finite number, or a ``keras.optimizers.schedules.LearningRateSchedule``."""
    import keras  # only here: checks.py itself loads no TensorFlow

    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    if not is_real(value) or value <= 0:
        raise ValueError(f"learning_rate={value!r} is not valid; use a number > 0 such as 1e-3, "
                         f"or a keras LearningRateSchedule")
    return float(value)


def check_seed(seed, *, optional: bool = True) -> None:
    """A seed: an integer >= 0 (or None where ``optional``: then nothing is seeded)."""
    if not (is_int(seed) and seed >= 0) and not (optional and seed is None):
        raise ValueError(f"seed={seed!r} is not valid; use an integer >= 0 such as 42" + (", or None" * optional))


def check_flag(name: str, value) -> bool:
    """True or False, nothing else (not 0 or "yes")."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not valid; use True or False")
    return value


def port_number(value, *, allow_zero: bool = False) -> int | None:
    """The TCP port ``value`` names (an int, or its digits as text), or None if it names none; 0 ("any free port")
    only with ``allow_zero``. Callers raise their own error (argparse's, or naming an environment variable)."""
    if isinstance(value, str):
        value = int(value) if value.isascii() and value.isdigit() else None
    if not is_int(value) or not (0 if allow_zero else 1) <= value <= 65535:
        return None
    return int(value)


def check_keras_path(path) -> Path:
    """A model file's path, which must end in ``.keras`` (Keras 3 saves nothing else)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: model files must end in .keras")
    return path


def check_folder(label: str, path) -> Path:
    """A folder, or a path where one can be made; ValueError if a file is in the way."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{label}={str(path)!r} is a file; give a folder")
    return path


def check_plain_name(label: str, value) -> str:
    """A folder name of one part: letters, digits, '-', '_', '.'; not '.', '..', absolute or with separators."""
    text = value if isinstance(value, str) else None
    if (not text or text in (".", "..") or text.startswith(".") or "/" in text or "\\" in text or "\0" in text
            or Path(text).is_absolute() or len(text) > 100):
        raise ValueError(f"{label}={value!r} is not valid; use a plain folder name such as 'my-search' "
                         f"(no '/', no '..', not absolute, not starting with '.')")
    return text


def check_name(name) -> None:
    """A run's label: a non-empty string without '/' or spaces (it names the run's checkpoint file, and often the
    Keras model, whose name may hold no spaces)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", "..") or any(c.isspace() for c in name):
        raise ValueError(f"name={name!r} is not valid; use a short label such as 'mlp-128' (no spaces, no '/')")


def check_images(data) -> None:
    """``check_pixels`` for the training and validation images of ``data`` (a ``Splits``)."""
    check_pixels("x_train", data.x_train, stacklevel=4)
    check_pixels("x_val", data.x_val, stacklevel=4)


def check_pixels(label: str, x, *, stacklevel: int = 3) -> None:
    """ValueError if an image holds NaN or infinity (it would poison every weight); a warning if the pixels are not
    scaled to [0, 1] as ``mk.data.load`` gives them (0-255, or divided by 255 twice)."""
    x = np.asarray(x)
    if not x.size or not np.issubdtype(x.dtype, np.number):
        return
    lo, hi = x.min(), x.max()  # NaN or infinity anywhere shows in one of them
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise ValueError(f"{label} has {bad} image(s) with NaN or infinite pixels; fix or drop them first")
    if lo < 0 or hi > 1 or 0 < hi <= 1 / 255:
        hint = "divided by 255 twice?" if hi <= 1 / 255 else "divide 0-255 images by 255"
        warnings.warn(f"{label}'s pixels run from {lo:.3g} to {hi:.3g}; mk.data.load scales them to [0, 1], which "
                      f"the lessons' models assume ({hint})", UserWarning, stacklevel=stacklevel)


def check_one_label_per_image(x, y) -> None:
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)}); give one label per image")


def check_labels(**arrays) -> list[np.ndarray]:
    """Class labels: non-empty 1-d arrays of integers 0-9, all of one length (probabilities get the argmax hint)."""
    checked = []
    for name, value in arrays.items():
        labels = np.asarray(value)
        if labels.ndim == 2 and labels.shape[1] == 10:
            raise ValueError(f"{name} holds probabilities, shape {labels.shape}; pass class labels: {name}.argmax(1)")
        if (labels.ndim != 1 or not labels.size or not np.issubdtype(labels.dtype, np.integer)
                or labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{name} must be a non-empty 1-d array of class labels 0-9, got shape {labels.shape} "
                             f"of {labels.dtype}")
        checked.append(labels)
    if len({len(labels) for labels in checked}) > 1:
        raise ValueError(f"{' and '.join(arrays)} differ in length ({', '.join(str(len(a)) for a in checked)})")
    return checked
