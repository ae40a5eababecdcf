"""Digits from image files, preprocessed the way MNIST was made (used by ``python -m mnistkit predict``).

MNIST's recipe: the digit is scaled to fit a 20x20 box (keeping its aspect ratio, anti-aliased), then
placed in a 28x28 image so that its centre of mass is at the centre. Digits are light on dark.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

BOX, SIZE = 20, 28
INVERT = ("auto", "yes", "no")
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; past that, decoding alone takes gigabytes


def load_image(path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A PNG/JPEG/... file (a path, or a binary file object) as a 2-d float32 array in [0, 1] (grey levels; colour
    is converted).

    The camera's EXIF orientation is applied (a phone photo is read the way it was held), 16-bit grey levels
    are scaled from their own range, and transparent pixels become white paper.

    Raises
    ------
    ValueError
        If ``path`` is not a regular file (a folder, a FIFO) or the image has more than ``max_pixels`` pixels.
    OSError
        If the file is missing or is not an image PIL can read.
    """
    from PIL import Image, ImageOps

    if isinstance(path, (str, os.PathLike)):  # else an open binary file, e.g. the bytes `serve` received
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError("no such file")
        if not path.is_file():
            raise ValueError("not a regular file (a folder, a FIFO or a device); give an image file")
    too_big = f"over the limit of {max_pixels:,} pixels; crop or shrink it"
    try:
        image = Image.open(path)
    except Image.DecompressionBombError:  # PIL's own, larger limit, checked as it reads the header
        raise ValueError(f"image is {too_big}") from None
    with image:
        if image.width * image.height > max_pixels:
            raise ValueError(f"image is {image.width}x{image.height} pixels, {too_big}")
        image.load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's "Corrupt EXIF data": it reads on
            try:
                image = ImageOps.exif_transpose(image)
            except Exception:  # noqa: BLE001 - EXIF too damaged to parse: the pixels as stored, as a browser shows them
                pass
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: convert("L") would clip at 255
            grey = np.asarray(image, dtype=np.float32)
            return grey / (65535.0 if grey.max() > 255 or image.mode.startswith("I;16") else 255.0)
        if image.mode in ("RGBA", "LA", "P", "PA"):  # transparent background -> white paper
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(paper, rgba)
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def to_mnist(image: np.ndarray, *, invert: str = "auto") -> np.ndarray:
    """Preprocess one grey image of any size into a 28x28 float32 MNIST-style digit.

    Parameters
    ----------
    image : 2-d array
        Grey levels in [0, 1] (or 0-255).
    invert : {"auto", "yes", "no"}, default="auto"
        MNIST digits are light on dark. ``"auto"`` inverts when the image border is brighter than its
        centre region, i.e. a dark digit on light paper.

    Raises
    ------
    ValueError
        If the image is not 2-d or holds no digit (a blank page).
    """
    from PIL import Image
    from scipy.ndimage import center_of_mass

    if invert not in INVERT:
        raise ValueError(f"invert={invert!r} is not valid; choose one of: {', '.join(INVERT)}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-d grey image, got shape {img.shape}")
    if min(img.shape) < 2:
        raise ValueError(f"the image is {img.shape[1]}x{img.shape[0]} pixels: too thin to hold a digit")
    img = img / 255.0 if img.max() > 1.0 else img
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    if invert == "yes" or (invert == "auto" and np.median(border) > 0.5):
        img, border = 1.0 - img, 1.0 - border
    img = np.clip(img - np.median(border), 0, None)  # grey paper or a dark-grey background becomes 0
    if img.max() <= 0.05:
        raise ValueError("no digit found: the image is blank")
    img /= img.max()
    rows, cols = np.nonzero(img > 0.1)
    img = img[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    h, w = img.shape
    scale = BOX / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(img, mode="F").resize(new, Image.Resampling.LANCZOS), dtype=np.float32)
    small = np.clip(small, 0, 1)
    out = np.zeros((SIZE, SIZE), np.float32)
    cy, cx = center_of_mass(small)
    top = int(np.clip(round(SIZE / 2 - cy), 0, SIZE - small.shape[0]))
    left = int(np.clip(round(SIZE / 2 - cx), 0, SIZE - small.shape[1]))
    out[top: top + small.shape[0], left: left + small.shape[1]] = small
    return out


def predict_files(model, paths, *, invert: str = "auto"):
    """Predict the digit of each file in ``paths`` (or of the one file ``paths`` names). Returns ``(results,
    errors)``: ``results`` is a list of ``(path, digit, confidence)``; ``errors`` a list of ``(path, message)`` for
    files that could not be read.

    Raises
    ------
    ValueError
        If the model's outputs are not ten probabilities (see ``mnistkit.deploy.predict_probabilities``).
    """
    from .deploy import predict_probabilities

    images, kept, errors = [], [], []
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:  # one file, or several
        try:
            images.append(to_mnist(load_image(path), invert=invert))
            kept.append(path)
        except (OSError, ValueError) as exc:  # missing, unreadable, not an image, blank, too large
            errors.append((path, str(exc) or type(exc).__name__))
    if not images:
        return [], errors
    proba = predict_probabilities(model, np.stack(images))
    results = [(p, int(row.argmax()), float(row.max())) for p, row in zip(kept, proba)]
    return results, errors
