"""Model plumbing: the MLP builder behind 06's search space and 01's demo, and the augmentation layer in the saved
models of 05 and 07.

The notebooks write their models as Keras layers; ``build_mlp`` is 03's builder with its options checked (a wrong
value raises ``ValueError`` naming the valid choices before anything is built), for the tuner's workers
(``mnistkit.tuning``). Models take the raw (28, 28) images.
"""
from __future__ import annotations

import math

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras
from keras import layers

from .checks import (
    check_choice,
    check_flag,
    check_fraction,
    check_l2,
    check_learning_rate,
    check_seed,
    check_units,
    is_real,
)

ACTIVATIONS = ("relu", "elu", "gelu", "selu", "silu", "leaky_relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "nadam")
LABELS = ("sparse", "one_hot")
INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10


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
    check_compile_args(optimizer, learning_rate, labels)
    check_seed(seed)
    if augment is not None and not isinstance(augment, keras.Layer):
        raise ValueError(f"augment={augment!r} is not a layer; pass one, such as mk.models.augmentation(), or None")
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
    check_seed(seed)
    return RandomShiftRotate(shift=float(shift), rotation=float(rotation), seed=seed, name="augment")


def check_compile_args(optimizer, learning_rate, labels) -> None:
    """Validate compile arguments up front, so a typo fails before any layer is built."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_learning_rate(learning_rate)
    check_choice("labels", labels, LABELS)


def mlp_name(hidden, *, activation: str = "relu") -> str:
    """``mlp-256-128-relu``; ``baseline`` for no hidden layer."""
    return "baseline" if not hidden else "mlp-" + "-".join(map(str, hidden)) + f"-{activation}"
