"""What the benchmark scripts share: the script skeleton (quiet TensorFlow, ``--smoke``, ``--out``, JSON results),
a configurable CNN builder, and the recipes of the series' finalists as data, for the variants built from them.

The notebooks write their models as Keras layers; a recipe here is the same model as one line of settings, so a
benchmark can change one setting at a time. ``tests/test_benchmarks.py`` checks that the recipes build what the
notebooks build (the same parameter counts).
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import mnistkit as mk  # noqa: E402

mk.import_tensorflow_quietly()
import keras  # noqa: E402
from keras import layers  # noqa: E402

from mnistkit.checks import (  # noqa: E402
    check_choice,
    check_flag,
    check_fraction,
    check_positive_ints,
    check_units,
    is_int,
    is_real,
    is_real_positive,
)
from mnistkit.files import atomic_write_bytes  # noqa: E402
from mnistkit.models import ACTIVATIONS, INPUT_SHAPE, NUM_CLASSES, check_compile_args, compile_model  # noqa: E402

HERE = Path(__file__).resolve().parent
PADDINGS = ("valid", "same")
POOLS = ("max", "avg", "none")


# ---------------------------------------------------------------------------------- the script skeleton
def parser(doc: str, *, name: str, smoke: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script has: ``--smoke`` (what ``make test`` runs) and ``--out``
    (default ``benchmarks/results/<name>.json``, what ``make bench`` writes and the README quotes)."""
    parsed = argparse.ArgumentParser(description=doc.splitlines()[0])
    parsed.add_argument("--smoke", action="store_true", help=f"tiny budget, seconds: {smoke}")
    parsed.add_argument("--out", type=Path, default=HERE / "results" / f"{name}.json", help="the JSON results")
    return parsed


def write_json(dest, obj) -> Path:
    """Write ``obj`` as indented JSON to ``dest`` atomically, with the machine it ran on."""
    return atomic_write_bytes(dest, (json.dumps({"machine": mk.machine.describe(), **obj}, indent=2) + "\n").encode())


# ---------------------------------------------------------------------------------- a configurable CNN
def build_cnn(filters=(32, 64), *, kernel_size: int = 3, convs_per_block=1, padding: str = "valid",
              pool: str = "max", pool_padding: str = "valid", stem: int | None = None, batch_norm: bool = False,
              bn_momentum: float = 0.99, activation: str = "relu", dense=(), dropout: float = 0.0,
              global_pool: bool = False, optimizer: str = "adam", learning_rate=1e-3, labels: str = "sparse",
              augment=None, seed=None, name: str | None = None) -> keras.Model:
    """A convolutional network on 28x28 images, compiled.

    An optional stem first halves the image; then each entry of ``filters`` is a block:
    ``convs_per_block`` convolutions of that many filters (each followed by batch norm when asked, then the
    activation), then a 2x2 pooling.

    Parameters
    ----------
    filters : tuple of int, default=(32, 64)
        Filters per block.
    kernel_size : int, default=3
    convs_per_block : int or tuple of int, default=1
        Convolutions in every block, or one count per block, e.g. ``(1, 2)``.
    padding : {"valid", "same"}, default="valid"
        ``"valid"`` shrinks each side by ``kernel_size - 1``; ``"same"`` keeps the size.
    pool : {"max", "avg", "none"}, default="max"
    pool_padding : {"valid", "same"}, default="valid"
        ``"valid"`` drops the last row and column of an odd-sized map (7x7 pools to 3x3, 3x3 to 1x1, which reads
        4 of its 9 positions); ``"same"`` pads it instead (7x7 to 4x4, 4x4 to 2x2), so every position counts.
    stem : int, optional
        Filters of a 5x5 convolution with stride 2 before the blocks: it turns the 28x28 image into 14x14
        feature maps at once. On a CPU, layers at full resolution cost far more time than their
        multiply-adds suggest (memory traffic), so a stem buys depth and width for the later blocks (07).
    batch_norm : bool, default=False
    bn_momentum : float, default=0.99
        How slowly batch norm's moving statistics follow the batches; 0.9 suits runs of a few hundred steps,
        where 0.99 would still be evaluating with statistics of the first, untrained epochs.
    activation : str, default="relu"
    dense : tuple of int, default=()
        Hidden dense layers after the convolutions.
    dropout : float, default=0.0
        Dropout before each dense layer and before the classifier.
    global_pool : bool, default=False
        Average each feature map to one number (few parameters) instead of flattening.
    optimizer, learning_rate, labels, augment, seed, name
        As for ``mnistkit.models.build_mlp``.
    """
    filters = check_units(filters, name="filters", example="(32, 64)")
    dense = check_units(dense, name="dense", example="(128,)")
    if not filters:
        raise ValueError("filters=() is not valid; give at least one block, e.g. (32, 64)")
    if not is_int(kernel_size) or not 1 <= kernel_size <= 7:
        raise ValueError(f"kernel_size={kernel_size!r} is not valid; use an integer from 1 to 7")
    convs = check_convs_per_block(convs_per_block, len(filters))
    if stem is not None and (not is_int(stem) or stem < 1):
        raise ValueError(f"stem={stem!r} is not valid; give the stem's number of filters, e.g. 32, or None")
    padding, pool = check_choice("padding", padding, PADDINGS), check_choice("pool", pool, POOLS)
    pool_padding = check_choice("pool_padding", pool_padding, PADDINGS)
    activation, dropout = check_choice("activation", activation, ACTIVATIONS), check_fraction("dropout", dropout)
    check_flag("batch_norm", batch_norm), check_flag("global_pool", global_pool)
    if not is_real(bn_momentum) or not 0 < bn_momentum < 1:
        raise ValueError(f"bn_momentum={bn_momentum!r} is not valid; use a number in (0, 1), e.g. 0.99 or 0.9")
    check_compile_args(optimizer, learning_rate, labels)
    check_feature_map_size(convs, kernel_size, padding, pool, stem is not None, pool_padding)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Reshape((*INPUT_SHAPE, 1), name="add_channel")(augment(inputs) if augment is not None else inputs)

    def conv(x, n, size, label, strides=1):
        x = layers.Conv2D(n, size, strides=strides, padding=padding if strides == 1 else "same",
                          use_bias=not batch_norm, name=f"conv{label}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{label}")(x)
        return layers.Activation(activation, name=f"{activation}{label}")(x)

    if stem is not None:
        x = conv(x, stem, 5, "0_stem", strides=2)
    for i, (n, count) in enumerate(zip(filters, convs), start=1):
        for j in range(1, count + 1):
            x = conv(x, n, kernel_size, f"{i}_{j}")
        if pool != "none":
            x = (layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D)(2, padding=pool_padding,
                                                                                  name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x) if global_pool else layers.Flatten(name="flatten")(x)
    for k, units in enumerate(dense, start=1):
        x = layers.Dropout(dropout, name=f"dropout_{k}")(x) if dropout else x
        x = layers.Dense(units, activation=activation, name=f"dense_{k}")(x)
    x = layers.Dropout(dropout, name="dropout_out")(x) if dropout else x
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name or "cnn-" + "-".join(map(str, filters)))
    return compile_model(model, optimizer=optimizer, learning_rate=learning_rate, labels=labels)


def check_convs_per_block(convs_per_block, blocks: int) -> tuple[int, ...]:
    """One convolution count (1-7) per block, from an int for every block or a tuple with one per block."""
    counts = (convs_per_block,) * blocks if is_int(convs_per_block) else convs_per_block
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Sequence) or len(counts) != blocks \
            or not all(is_int(c) and 1 <= c <= 7 for c in counts):
        raise ValueError(f"convs_per_block={convs_per_block!r} is not valid; use an integer from 1 to 7, "
                         f"or a tuple of {blocks} of them (one per block)")
    return tuple(int(c) for c in counts)


def check_feature_map_size(convs, kernel_size: int, padding: str, pool: str, stem: bool, pool_padding: str) -> None:
    """Refuse layouts that shrink the 28x28 image below 1x1 before any layer is built."""
    size = INPUT_SHAPE[0] // 2 if stem else INPUT_SHAPE[0]
    for block, count in enumerate(convs, start=1):
        size -= count * (kernel_size - 1) if padding == "valid" else 0
        size = (size + (pool_padding == "same")) // 2 if pool != "none" else size
        if size < 1:
            raise ValueError(f"{len(convs)} blocks with kernel_size={kernel_size}, padding={padding!r}, pool={pool!r}"
                             f"{', a stem' if stem else ''} shrink the 28x28 image to nothing by block {block}; "
                             f"use padding='same' or fewer blocks")


# ---------------------------------------------------------------------------------- recipes
def cosine_schedule(peak_lr: float, *, epochs: int, train_size: int, batch_size: int,
                    warmup_fraction: float = 0.0) -> keras.optimizers.schedules.LearningRateSchedule:
    """A cosine learning-rate schedule over a whole training run, stepped once per batch.

    With ``warmup_fraction > 0`` the rate first climbs linearly from ``peak_lr / 25`` to ``peak_lr`` over that
    share of the steps, then anneals to ~0: the shape of a one-cycle schedule.
    """
    if not is_real_positive(peak_lr):
        raise ValueError(f"peak_lr={peak_lr!r} is not valid; use a number > 0 such as 3e-3")
    check_positive_ints(epochs=epochs, train_size=train_size, batch_size=batch_size)
    if not isinstance(warmup_fraction, (int, float)) or not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction={warmup_fraction!r} is not valid; use a number in [0, 1)")
    steps = epochs * -(-train_size // batch_size)
    warmup = int(steps * warmup_fraction)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=steps)
    return keras.optimizers.schedules.CosineDecay(peak_lr / 25, decay_steps=steps - warmup,
                                                  warmup_target=peak_lr, warmup_steps=warmup)


@dataclass(frozen=True)
class Recipe:
    """A model and the way it is trained.

    Attributes
    ----------
    name : str
        Run name on the leaderboard.
    notebook : str
        The notebook that teaches it.
    kind : {"mlp", "cnn"}
        Which builder (``build_mlp`` / ``build_cnn``).
    model : dict
        Keyword arguments for the builder (not learning rate, augmentation or seed).
    epochs, batch_size : int
        Full-profile epochs (the quick profile caps them) and batch size.
    learning_rate : float
        Constant rate, or the peak of a cosine schedule when ``cosine`` is True.
    cosine : bool
        Cosine schedule over the whole run (``warmup_fraction`` > 0 makes it one-cycle).
    augment : dict or None
        ``augmentation(**augment)`` when given.
    patience : int or None
        Early-stopping patience; None trains every epoch (schedules decide the end).
    """

    name: str
    notebook: str
    kind: str
    model: dict = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    cosine: bool = False
    warmup_fraction: float = 0.0
    augment: dict | None = None
    patience: int | None = 5

    def schedule(self, *, train_size: int, epochs: int):
        """The learning rate: the constant, or the cosine schedule sized for ``epochs`` over ``train_size`` images."""
        if not self.cosine:
            return self.learning_rate
        return cosine_schedule(self.learning_rate, epochs=epochs, train_size=train_size,
                               batch_size=self.batch_size, warmup_fraction=self.warmup_fraction)

    def build(self, *, train_size: int, epochs: int, seed: int | None = None):
        """The compiled model, its schedule sized for ``epochs`` over ``train_size`` images."""
        lr = self.schedule(train_size=train_size, epochs=epochs)
        augment = mk.models.augmentation(**self.augment, seed=seed) if self.augment else None
        build = {"mlp": mk.models.build_mlp, "cnn": build_cnn}[self.kind]
        return build(**self.model, learning_rate=lr, augment=augment, seed=seed, name=self.name)


BASELINE = Recipe("baseline", "02_baseline", "mlp", {"hidden": ()}, epochs=40)
BEST_ARCHITECTURE = Recipe("arch-1024", "03_architectures", "mlp", {"hidden": (1024,)}, epochs=20, patience=3)
BEST_MLP = Recipe("best-mlp", "05_regularization", "mlp",
                  {"hidden": (512, 512), "dropout": 0.25, "batch_norm": True},
                  epochs=14, batch_size=512, learning_rate=3e-3, cosine=True,
                  augment={"shift": 0.08, "rotation": 0.03}, patience=None)
KERASIO_CNN = Recipe("keras-io-cnn", "07_cnn", "cnn", {"filters": (32, 64), "dropout": 0.5},
                     epochs=15, batch_size=128, patience=3)
LENET5 = Recipe("lenet5", "07_cnn", "cnn", {"filters": (6, 16), "kernel_size": 5, "pool": "avg", "dense": (120, 84)},
                epochs=15, patience=3)


# 06's search space at its default point
TUNED_STANDIN = Recipe("tuned-mlp", "06_tuning", "mlp", {"hidden": (32,)}, epochs=30, learning_rate=5e-3, patience=4)

# notebook 07's modern CNN; why this shape: benchmarks/README.md
MODERN_CNN = Recipe("modern-cnn", "07_cnn", "cnn",
                    {"stem": 48, "filters": (96, 192, 384), "padding": "same", "batch_norm": True, "dropout": 0.1},
                    epochs=12, batch_size=256, learning_rate=4e-3, cosine=True, warmup_fraction=0.2,
                    augment={"shift": 0.08, "rotation": 0.03}, patience=None)
COMPACT_CNN = Recipe("compact-cnn", "07_cnn", "cnn",
                     {"filters": (8, 16, 16), "convs_per_block": 2, "padding": "same", "batch_norm": True,
                      "global_pool": True},
                     epochs=15, batch_size=256, learning_rate=6e-3, cosine=True, warmup_fraction=0.2,
                     augment={"shift": 0.08, "rotation": 0.03}, patience=None)
# benchmarks/time_to_accuracy.py's quick CNN (used there only)
FAST_CNN = Recipe("fast-cnn", "benchmark", "cnn",
                  {"stem": 16, "filters": (32, 64), "padding": "same", "batch_norm": True, "bn_momentum": 0.9},
                  epochs=3, batch_size=128, learning_rate=5e-3, cosine=True, warmup_fraction=0.25, patience=None)
