import numpy as np
import pytest

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
]


@pytest.mark.parametrize("kwargs,message", BAD_MLP_ARGS, ids=[str(k) for k, _ in BAD_MLP_ARGS])
def test_bad_mlp_arguments_raise_before_building(kwargs, message, monkeypatch):
    built = []
    monkeypatch.setattr(models.keras, "Input", lambda *a, **k: built.append(1))
    args = dict(kwargs)
    hidden = args.pop("hidden", (16,))
    with pytest.raises(ValueError, match=message):
        models.build_mlp(hidden, **args)
    assert not built, "a layer was built before the arguments were checked"


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


@pytest.mark.parametrize("name", models.OPTIMIZERS)
def test_every_optimizer_name_builds(name):
    assert models.make_optimizer(name, learning_rate=0.01) is not None
