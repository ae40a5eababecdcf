"""Small learnable stand-ins for MNIST, shared by the unit tests (tests/ is on sys.path under pytest)."""
import keras
import numpy as np
import pytest

from mnistkit import data


def tiny_splits(n=600, seed=0):
    """Learnable synthetic digits: class d lights up row block d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.3
    for i, d in enumerate(y):
        x[i, d * 2: d * 2 + 3, :] += 0.7
    return data.Splits(x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:], source="synthetic")


def tiny_cnn(filters=(4,), *, augment=None, batch_norm=False, dropout=0.0, learning_rate=1e-3, seed=0):
    """A small compiled CNN written as Keras layers, the way notebook 07 writes its CNNs: per block a 3x3
    convolution (then batch norm when asked), ReLU and 2x2 max pooling; ``augment`` first when given."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28), name="image")
    x = layers.Reshape((28, 28, 1), name="add_channel")(augment(inputs) if augment is not None else inputs)
    for i, n in enumerate(filters, start=1):
        x = layers.Conv2D(n, 3, use_bias=not batch_norm, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x) if batch_norm else x
        x = layers.MaxPooling2D(2, name=f"pool{i}")(layers.Activation("relu", name=f"relu{i}")(x))
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x) if dropout else x
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="softmax")(x),
                        name="cnn-" + "-".join(map(str, filters)))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def assert_rejected_before_building(build, first, kwargs, message, monkeypatch):
    """``build(first, **kwargs)`` raises ValueError matching ``message`` before any layer exists."""
    built = []
    monkeypatch.setattr(keras, "Input", lambda *a, **k: built.append(1))
    with pytest.raises(ValueError, match=message):
        build(first, **kwargs)
    assert not built, "a layer was built before the arguments were checked"
