"""Model builders: the baseline (02), MLPs (02-05) and CNNs (07), compiled with a named optimizer.

Every builder checks its arguments before building anything and raises ``ValueError`` naming the
valid choices. Models take the raw (28, 28) images; a ``Flatten`` (MLPs) does the reshaping, so
every model in the series eats the same arrays. CNNs reshape them to (28, 28, 1) themselves.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras
from keras import layers

from .checks import check_choice, is_int, is_real

ACTIVATIONS = ("relu", "elu", "gelu", "selu", "silu", "leaky_relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "nadam")
LABELS = ("sparse", "one_hot")
PADDINGS = ("valid", "same")
POOLS = ("max", "avg", "none")
INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10


# ------------------------------------------------------------------------------ validation
def check_units(hidden, *, name: str = "hidden", example: str = "(256, 128)") -> tuple[int, ...]:
    """Layer sizes: a sequence of positive integers (empty means no such layer)."""
    if is_int(hidden):
        hidden = (hidden,)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) \
            or not all(is_int(u) and u > 0 for u in hidden):
        raise ValueError(f"{name}={hidden!r} is not valid; give a tuple of positive integers such as "
                         f"{example}, or () for none")
    return tuple(int(u) for u in hidden)


def check_fraction(name: str, value) -> float:
    """A rate in [0, 1), such as dropout."""
    if not is_real(value) or not 0 <= value < 1:
        raise ValueError(f"{name}={value!r} is not valid; use a number in [0, 1), e.g. 0.2 (0 turns it off)")
    return float(value)


def check_l2(value) -> float:
    if not is_real(value) or value < 0:
        raise ValueError(f"l2={value!r} is not valid; use a number >= 0, e.g. 1e-4 (0 turns it off)")
    return float(value)


def check_learning_rate(value):
    """A positive finite number, or a ``keras.optimizers.schedules.LearningRateSchedule``."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    if not is_real(value) or value <= 0:
        raise ValueError(f"learning_rate={value!r} is not valid; use a number > 0 such as 1e-3, "
                         f"or a keras LearningRateSchedule")
    return float(value)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not valid; use True or False")
    return value


# ------------------------------------------------------------------------------ compiling
def make_optimizer(name: str = "adam", *, learning_rate=1e-3) -> keras.optimizers.Optimizer:
    """A fresh optimizer by name: ``momentum`` is SGD with momentum 0.9, ``nesterov`` adds Nesterov."""
    name = check_choice("optimizer", name, OPTIMIZERS)
    learning_rate = check_learning_rate(learning_rate)
    if name in ("sgd", "momentum", "nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=0.0 if name == "sgd" else 0.9,
                                    nesterov=name == "nesterov")
    cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
           "adamw": keras.optimizers.AdamW, "nadam": keras.optimizers.Nadam}[name]
    return cls(learning_rate)


def compile_model(model: keras.Model, *, optimizer: str = "adam", learning_rate=1e-3,
                  labels: str = "sparse") -> keras.Model:
    """Compile for 10-class classification with accuracy.

    ``labels="sparse"`` expects integer labels (``sparse_categorical_crossentropy``);
    ``labels="one_hot"`` expects one-hot rows (``categorical_crossentropy``). Same loss, other format.
    """
    labels = check_choice("labels", labels, LABELS)
    loss = "sparse_categorical_crossentropy" if labels == "sparse" else "categorical_crossentropy"
    model.compile(optimizer=make_optimizer(optimizer, learning_rate=learning_rate), loss=loss,
                  metrics=["accuracy"])
    return model


def uses_one_hot(model: keras.Model) -> bool:
    """True when ``model`` was compiled with one-hot labels."""
    loss = getattr(model, "loss", None)
    return (loss if isinstance(loss, str) else getattr(loss, "name", "")) == "categorical_crossentropy"


# ------------------------------------------------------------------------------ builders
def build_baseline(*, optimizer: str = "adam", learning_rate=1e-3, labels: str = "sparse",
                   seed=None) -> keras.Model:
    """Flatten -> Dense(10, softmax): multinomial logistic regression, 7 850 weights."""
    return build_mlp((), optimizer=optimizer, learning_rate=learning_rate, labels=labels, seed=seed,
                     name="baseline")


def build_mlp(hidden=(128,), *, activation: str = "relu", dropout: float = 0.0, l2: float = 0.0,
              batch_norm: bool = False, optimizer: str = "adam", learning_rate=1e-3,
              labels: str = "sparse", augment=None, seed=None, name: str | None = None) -> keras.Model:
    """A multilayer perceptron on 28x28 images, compiled.

    Parameters
    ----------
    hidden : tuple of int, default=(128,)
        Units per hidden layer; ``()`` gives the baseline.
    activation : str, default="relu"
        One of ``ACTIVATIONS``.
    dropout : float, default=0.0
        Dropout rate after each hidden layer, in [0, 1).
    l2 : float, default=0.0
        L2 penalty on every Dense kernel.
    batch_norm : bool, default=False
        BatchNormalization between each Dense and its activation.
    optimizer, learning_rate, labels
        See ``compile_model`` and ``make_optimizer``.
    augment : keras.Layer, optional
        A preprocessing block (e.g. ``augmentation()``) applied to images during training only.
    seed : int, optional
        Seeds weight initialisation (``keras.utils.set_random_seed``) when given.
    """
    hidden = check_units(hidden)
    activation = check_choice("activation", activation, ACTIVATIONS)
    dropout, l2 = check_fraction("dropout", dropout), check_l2(l2)
    check_flag("batch_norm", batch_norm)
    _check_compile_args(optimizer, learning_rate, labels)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = augment(inputs) if augment is not None else inputs
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, kernel_regularizer=regularizer, use_bias=not batch_norm, name=f"dense_{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.Activation(activation, name=f"{activation}_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=regularizer, name="softmax",
                           dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name or mlp_name(hidden, activation=activation))
    return compile_model(model, optimizer=optimizer, learning_rate=learning_rate, labels=labels)


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
        As for ``build_mlp``.
    """
    filters = check_units(filters, name="filters", example="(32, 64)")
    dense = check_units(dense, name="dense", example="(128,)")
    if not filters:
        raise ValueError("filters=() is not valid; give at least one block, e.g. (32, 64)")
    if not is_int(kernel_size) or not 1 <= kernel_size <= 7:
        raise ValueError(f"kernel_size={kernel_size!r} is not valid; use an integer from 1 to 7")
    convs = _check_convs_per_block(convs_per_block, len(filters))
    if stem is not None and (not is_int(stem) or stem < 1):
        raise ValueError(f"stem={stem!r} is not valid; give the stem's number of filters, e.g. 32, or None")
    padding, pool = check_choice("padding", padding, PADDINGS), check_choice("pool", pool, POOLS)
    pool_padding = check_choice("pool_padding", pool_padding, PADDINGS)
    activation, dropout = check_choice("activation", activation, ACTIVATIONS), check_fraction("dropout", dropout)
    check_flag("batch_norm", batch_norm), check_flag("global_pool", global_pool)
    if not is_real(bn_momentum) or not 0 < bn_momentum < 1:
        raise ValueError(f"bn_momentum={bn_momentum!r} is not valid; use a number in (0, 1), e.g. 0.99 or 0.9")
    _check_compile_args(optimizer, learning_rate, labels)
    _check_feature_map_size(convs, kernel_size, padding, pool, stem is not None, pool_padding)
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


def _check_convs_per_block(convs_per_block, blocks: int) -> tuple[int, ...]:
    """One convolution count (1-7) per block, from an int for every block or a tuple with one per block."""
    counts = (convs_per_block,) * blocks if is_int(convs_per_block) else convs_per_block
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Sequence) or len(counts) != blocks \
            or not all(is_int(c) and 1 <= c <= 7 for c in counts):
        raise ValueError(f"convs_per_block={convs_per_block!r} is not valid; use an integer from 1 to 7, "
                         f"or a tuple of {blocks} of them (one per block)")
    return tuple(int(c) for c in counts)


def _check_feature_map_size(convs, kernel_size: int, padding: str, pool: str, stem: bool, pool_padding: str) -> None:
    """Refuse layouts that shrink the 28x28 image below 1x1 before any layer is built."""
    size = INPUT_SHAPE[0] // 2 if stem else INPUT_SHAPE[0]
    for block, count in enumerate(convs, start=1):
        size -= count * (kernel_size - 1) if padding == "valid" else 0
        size = (size + (pool_padding == "same")) // 2 if pool != "none" else size
        if size < 1:
            raise ValueError(f"{len(convs)} blocks with kernel_size={kernel_size}, padding={padding!r}, pool={pool!r}"
                             f"{', a stem' if stem else ''} shrink the 28x28 image to nothing by block {block}; "
                             f"use padding='same' or fewer blocks")


def shift_rotate_transforms(angle, dx, dy):
    """Rows of ``keras.ops.image.affine_transform`` that rotate 28x28 images by ``angle`` (radians) about their centre
    and then move them ``dx`` pixels right and ``dy`` pixels down (one row per image)."""
    ops = keras.ops
    cos, sin, centre = ops.cos(angle), ops.sin(angle), (INPUT_SHAPE[0] - 1) / 2
    # output pixel (x, y) reads the input at R(angle) @ ((x, y) - centre - shift) + centre
    a2 = centre - cos * (centre + dx) - sin * (centre + dy)
    b2 = centre + sin * (centre + dx) - cos * (centre + dy)
    zero = ops.zeros_like(cos)
    return ops.stack([cos, sin, a2, -sin, cos, b2, zero, zero], axis=1)


@keras.saving.register_keras_serializable(package="mnistkit")
class RandomShiftRotate(layers.Layer):
    """Random rotation and shift of (batch, 28, 28) images in one affine transform, active only while training.

    Keras' ``RandomRotation`` followed by ``RandomTranslation`` interpolates every digit twice, blurring it twice;
    one transform interpolates it once (bilinear, the uncovered border black).
    """

    def __init__(self, *, shift: float, rotation: float, seed=None, **kwargs):  # checked by augmentation()
        super().__init__(**kwargs)
        self.shift, self.rotation, self.seed = shift, rotation, seed
        self.generator = keras.random.SeedGenerator(seed)

    def random_transforms(self, n):
        """``n`` rows of ``shift_rotate_transforms``, angle and shifts drawn uniformly up to the layer's limits."""
        u = keras.random.uniform((n, 3), -1.0, 1.0, seed=self.generator)
        side = INPUT_SHAPE[0]
        return shift_rotate_transforms(u[:, 0] * self.rotation * 2 * math.pi, u[:, 1] * self.shift * side,
                                       u[:, 2] * self.shift * side)

    def call(self, images, training=None):
        if not training:
            return images
        transforms = self.random_transforms(keras.ops.shape(images)[0])
        moved = keras.ops.image.affine_transform(images[..., None], transforms, interpolation="bilinear",
                                                 fill_mode="constant")
        return moved[..., 0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "rotation": self.rotation, "seed": self.seed}


def augmentation(*, shift: float = 0.1, rotation: float = 0.05, seed=None) -> RandomShiftRotate:
    """Random small shifts and rotations of 28x28 images, active only while training (05, 07).

    One ``RandomShiftRotate`` layer: each digit is rotated and shifted by one affine transform, so it is
    interpolated once.

    Parameters
    ----------
    shift : float, default=0.1
        Largest shift as a fraction of the image side (0.1 is about 3 pixels), drawn for each image and axis.
    rotation : float, default=0.05
        Largest rotation as a fraction of a full turn (0.05 is 18 degrees).
    """
    for label, value in (("shift", shift), ("rotation", rotation)):
        if not is_real(value) or not 0 <= value <= 0.5:
            raise ValueError(f"{label}={value!r} is not valid; use a number in [0, 0.5], e.g. 0.1")
    return RandomShiftRotate(shift=float(shift), rotation=float(rotation), seed=seed, name="augment")


def _check_compile_args(optimizer, learning_rate, labels) -> None:
    """Validate compile arguments up front, so a typo fails before any layer is built."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_learning_rate(learning_rate)
    check_choice("labels", labels, LABELS)


def mlp_name(hidden, *, activation: str = "relu") -> str:
    """``mlp-256-128-relu``; ``baseline`` for no hidden layer."""
    return "baseline" if not hidden else "mlp-" + "-".join(map(str, hidden)) + f"-{activation}"
