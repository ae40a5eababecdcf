import keras
import numpy as np
import pytest
from synthetic import assert_rejected_before_building, tiny_cnn

from mnistkit import models

BAD_MLP_ARGS = [
    ({"hidden": (0,)}, "positive integers"),
    ({"hidden": (128, -5)}, "positive integers"),
    ({"hidden": (12.5,)}, "positive integers"),
    ({"hidden": "128"}, "positive integers"),
    ({"hidden": (True,)}, "positive integers"),
    ({"activation": "relu6x"}, "choose one of: relu, elu, gelu"),
    ({"activation": None}, "choose one of"),
    ({"optimizer": "adagradx"}, "choose one of: sgd, momentum, nesterov, rmsprop, adam"),
    ({"optimizer": 3}, "choose one of"),
    ({"dropout": 1.0}, r"\[0, 1\)"),
    ({"dropout": -0.1}, r"\[0, 1\)"),
    ({"dropout": "0.2"}, r"\[0, 1\)"),
    ({"dropout": float("nan")}, r"\[0, 1\)"),
    ({"l2": -1e-4}, ">= 0"),
    ({"l2": float("inf")}, ">= 0"),
    ({"learning_rate": 0}, "> 0"),
    ({"learning_rate": -1e-3}, "> 0"),
    ({"learning_rate": "1e-3"}, "> 0"),
    ({"labels": "onehot"}, "choose one of: sparse, one_hot"),
    ({"batch_norm": "yes"}, "True or False"),
    ({"augment": True}, "is not a layer; pass one, such as mk.models.augmentation"),
    ({"augment": "augmentation"}, "is not a layer"),
]


@pytest.mark.parametrize("kwargs,message", BAD_MLP_ARGS, ids=[str(k) for k, _ in BAD_MLP_ARGS])
def test_bad_mlp_arguments_raise_before_building(kwargs, message, monkeypatch):
    args = dict(kwargs)
    assert_rejected_before_building(models.build_mlp, args.pop("hidden", (16,)), args, message, monkeypatch)


def test_baseline_is_logistic_regression():
    model = models.build_baseline(seed=0)
    assert model.count_params() == 28 * 28 * 10 + 10
    assert model.output_shape == (None, 10)
    assert model.loss == "sparse_categorical_crossentropy"


def test_mlp_layers_follow_the_arguments():
    model = models.build_mlp((64, 32), activation="tanh", dropout=0.2, l2=1e-4, batch_norm=True,
                             optimizer="momentum", learning_rate=0.05, labels="one_hot", seed=0)
    names = [layer.name for layer in model.layers]
    assert names[:6] == ["image", "flatten", "dense_1", "bn_1", "tanh_1", "dropout_1"]
    assert model.name == "mlp-64-32-tanh" and models.uses_one_hot(model)
    assert model.get_layer("dense_1").kernel_regularizer is not None
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    assert model.count_params() == 784 * 64 + 2 * 2 * 64 + 64 * 32 + 2 * 2 * 32 + 32 * 10 + 10


def test_same_seed_builds_the_same_weights():
    first = models.build_mlp((32,), seed=7).get_weights()
    second = models.build_mlp((32,), seed=7).get_weights()
    other = models.build_mlp((32,), seed=8).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], other[0])


EXPECTED_OPTIMIZERS = {"sgd": ("SGD", 0.0, False), "momentum": ("SGD", 0.9, False), "nesterov": ("SGD", 0.9, True),
                       "rmsprop": ("RMSprop", None, None), "adam": ("Adam", None, None), "adamw": ("AdamW", None, None),
                       "nadam": ("Nadam", None, None)}


@pytest.mark.parametrize("name", models.OPTIMIZERS)
def test_every_optimizer_name_builds_the_optimizer_it_names(name):
    optimizer = models.make_optimizer(name, learning_rate=0.01)
    cls, momentum, nesterov = EXPECTED_OPTIMIZERS[name]
    assert type(optimizer).__name__ == cls
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)
    if momentum is not None:
        assert (optimizer.momentum, optimizer.nesterov) == (momentum, nesterov)
    assert models.make_optimizer(name) is not optimizer  # a fresh one each call: optimizers keep state


def test_augmentation_changes_images_only_in_training():
    """Inference passes images through untouched; training moves them, with new draws on every call, the same
    draws for the same seed, and a digit in the middle keeps its ink (nothing cut off, one interpolation)."""
    import keras
    x = np.zeros((16, 28, 28), "float32")
    x[:, 10:18, 12:16] = np.linspace(0.2, 1.0, 16 * 8 * 4, dtype="float32").reshape(16, 8, 4)
    block = models.augmentation(shift=0.08, rotation=0.03, seed=0)
    assert isinstance(block, models.RandomShiftRotate) and block.name == "augment"
    assert np.array_equal(keras.ops.convert_to_numpy(block(x, training=False)), x)
    first, second = (keras.ops.convert_to_numpy(block(x, training=True)) for _ in range(2))
    assert first.shape == x.shape and not np.allclose(first, x) and not np.allclose(first, second)
    np.testing.assert_allclose(first.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=2e-3)
    again = keras.ops.convert_to_numpy(models.augmentation(shift=0.08, rotation=0.03, seed=0)(x, training=True))
    np.testing.assert_array_equal(again, first)
    still = models.augmentation(shift=0, rotation=0, seed=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(still(x, training=True)), x, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        models.augmentation(shift=2)
    with pytest.raises(ValueError, match="rotation"):
        models.augmentation(rotation=-0.1)


def test_shift_rotate_transforms_move_and_turn_the_image():
    """One pixel right / down moves every pixel by one; a positive quarter turn is numpy's rot90 clockwise (as
    the image is drawn, row 0 on top)."""
    import keras
    x = np.random.default_rng(0).random((1, 28, 28, 1)).astype("float32")

    def apply(angle, dx, dy):
        t = models.shift_rotate_transforms(np.array([angle], "float32"), np.array([dx], "float32"),
                                           np.array([dy], "float32"))
        return keras.ops.convert_to_numpy(keras.ops.image.affine_transform(x, t, interpolation="bilinear",
                                                                           fill_mode="constant"))[0, ..., 0]

    image = x[0, ..., 0]
    right, down = apply(0.0, 1.0, 0.0), apply(0.0, 0.0, 1.0)
    np.testing.assert_allclose(right[:, 1:], image[:, :-1], atol=1e-6)
    assert not right[:, 0].any()
    np.testing.assert_allclose(down[1:], image[:-1], atol=1e-6)
    np.testing.assert_allclose(apply(np.pi / 2, 0.0, 0.0), np.rot90(image, k=-1), atol=1e-5)


def test_augmented_model_saves_and_loads(tmp_path):
    """The best models are saved with their augmentation layer inside; notebook 08 and predict load them."""
    import keras
    model = tiny_cnn((4,), augment=models.augmentation(seed=1), seed=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)  # untrained: no optimizer state to restore
    assert isinstance(loaded.get_layer("augment"), models.RandomShiftRotate)
    assert loaded.get_layer("augment").get_config()["shift"] == 0.1
    x = np.random.default_rng(0).random((3, 28, 28)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_mixed_precision_computes_in_bfloat16_but_gives_float32_probabilities():
    """Under Keras' mixed_bfloat16 policy the layers compute in bfloat16; the classifier stays float32, so the
    probabilities (and the loss on them) keep float32 precision."""
    import keras
    x = np.random.default_rng(0).random((3, 28, 28)).astype("float32")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.build_mlp((8,), seed=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("dense_1").compute_dtype == "bfloat16"
    assert model.get_layer("softmax").compute_dtype == "float32"
    proba = model.predict(x, verbose=0)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
