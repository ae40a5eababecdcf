"""mnistkit.deploy: safe loading, the portable inference model, SavedModel export."""
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from synthetic import tiny_cnn

from mnistkit import deploy, models


def images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28)).astype("float32")


def keras_augmentation():
    """Keras' own augmentation layers, which augment when called without ``training``, nested in a Sequential."""
    return keras.Sequential([keras.layers.Reshape((28, 28, 1)), keras.layers.RandomTranslation(0.2, 0.2, seed=1),
                             keras.layers.Reshape((28, 28))], name="keras_augment")


def augmented_model(kind):
    """A model as the notebooks save them: mnistkit's RandomShiftRotate in front."""
    if kind == "mlp":
        return models.build_mlp((32,), augment=models.augmentation(seed=0), dropout=0.2, seed=0)
    return tiny_cnn((4, 8), augment=models.augmentation(seed=0), batch_norm=True, seed=0)


@pytest.fixture(params=["mlp", "cnn"])
def augmented(request):
    return augmented_model(request.param)


def test_inference_model_drops_augmentation_and_keeps_predictions_and_weights(augmented):
    x = images()
    portable = deploy.inference_model(augmented)
    assert not any(deploy.is_training_only(layer) for layer in portable.layers)
    assert any(isinstance(layer, models.RandomShiftRotate) for layer in augmented.layers), "original untouched"
    np.testing.assert_allclose(portable.predict(x, verbose=0), augmented.predict(x, verbose=0), atol=1e-6)
    assert portable.count_params() == augmented.count_params()
    assert portable.get_layer("softmax") is augmented.get_layer("softmax"), "weights are shared, not copied"


def test_inference_model_walks_nested_keras_augmentation():
    model = tiny_cnn((4,), augment=keras_augmentation(), seed=0)
    portable = deploy.inference_model(model)
    x = images()
    np.testing.assert_array_equal(portable(x), portable(x))
    np.testing.assert_allclose(portable.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_model_without_augmentation_is_returned_as_it_is():
    model = tiny_cnn((4,), seed=0)
    assert deploy.inference_model(model) is model


# Loads each .keras file named after the images in a process where `import mnistkit` fails, as on a machine without
# it; one line per file: "ok" (its predictions saved as p<i>.npy) or the error.
WITHOUT_MNISTKIT = textwrap.dedent("""
    import sys
    sys.modules["mnistkit"] = None
    import keras, numpy as np
    x = np.load(sys.argv[1])
    for i, path in enumerate(sys.argv[2:]):
        try:
            np.save(f"p{i}.npy", keras.saving.load_model(path).predict(x, verbose=0))
            print("ok")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}".replace("\\n", " "))
""")


@pytest.mark.cli
def test_the_portable_files_load_and_predict_in_a_process_without_mnistkit(tmp_path):
    x = images()
    np.save(tmp_path / "x.npy", x)
    trained = {kind: augmented_model(kind) for kind in ("mlp", "cnn")}
    files = []
    for kind, model in trained.items():
        model.save(tmp_path / f"{kind}_as_trained.keras")
        files += [tmp_path / f"{kind}_as_trained.keras", deploy.save_portable(model, tmp_path / f"{kind}.keras")]
    done = subprocess.run([sys.executable, "-c", WITHOUT_MNISTKIT, "x.npy", *map(str, files)], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    as_trained_mlp, portable_mlp, as_trained_cnn, portable_cnn = done.stdout.splitlines()
    assert "RandomShiftRotate" in as_trained_mlp and "RandomShiftRotate" in as_trained_cnn, "the check can fail"
    assert portable_mlp == portable_cnn == "ok"
    np.testing.assert_allclose(np.load(tmp_path / "p1.npy"), trained["mlp"].predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "p3.npy"), trained["cnn"].predict(x, verbose=0), atol=1e-6)


def test_save_portable_wants_a_keras_file(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras"):
        deploy.save_portable(tiny_cnn((4,), seed=0), tmp_path / "model.h5")


def test_load_model_opens_augmented_models_and_names_bad_files(augmented, tmp_path):
    augmented.save(tmp_path / "m.keras")
    x = images()
    np.testing.assert_allclose(deploy.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               augmented.predict(x, verbose=0), atol=1e-6)
    (tmp_path / "cut.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(deploy.ModelLoadError, match=r"cut.keras: not a .keras archive \(empty, cut short"):
        deploy.load_model(tmp_path / "cut.keras")  # Keras itself says "File not found" of it
    with zipfile.ZipFile(tmp_path / "empty.keras", "w"):
        pass
    with pytest.raises(deploy.ModelLoadError, match="empty.keras: cannot load this model .*config.json"):
        deploy.load_model(tmp_path / "empty.keras")
    with pytest.raises(deploy.ModelLoadError, match="no such model file"):
        deploy.load_model(tmp_path / "missing.keras")
    (tmp_path / "savedmodel").mkdir()
    with pytest.raises(deploy.ModelLoadError, match=r"savedmodel: a folder \(a SavedModel export\?\), not a .keras"
                                                    r" file; pass the .keras file, e.g. .*/export/mnist_best.keras"):
        deploy.load_model(tmp_path / "savedmodel")
    for export in ("int8.tflite", "model.onnx"):  # notebook 09's other files, given to predict or serve
        (tmp_path / export).write_bytes(b"\x00" * 64)
        with pytest.raises(deploy.ModelLoadError, match=f"{export}: an export for another runtime, not a .keras "
                                                        f"file; pass the model.keras saved beside it"):
            deploy.load_model(tmp_path / export)
    lam = keras.Sequential([keras.Input((28, 28)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(deploy.ModelLoadError, match=r"lambda.keras: holds Python code \(a Lambda layer\).*"
                                                    r"keras.saving.load_model\(path, safe_mode=False\)"):
        deploy.load_model(tmp_path / "lambda.keras")  # trusted or not is the user's call: not "damaged"


def test_nan_outputs_are_called_broken_weights_not_a_missing_softmax():
    with pytest.raises(ValueError, match="NaN or infinite: its weights are broken") as refused:
        deploy.check_probabilities(np.full((2, 10), np.nan))
    assert "softmax" not in str(refused.value)
    with pytest.raises(ValueError, match="activation='softmax'"):
        deploy.check_probabilities(np.full((2, 10), 0.5))
    deploy.check_probabilities(np.full((2, 10), 0.1))


def test_saved_model_serves_in_inference_mode_and_replaces_atomically(tmp_path):
    # Keras' own augmentation layers augment when called without `training` (mnistkit's does not): any block a
    # learner passes as `augment` must still be off in the served model
    model = tiny_cnn((4,), augment=keras_augmentation(), seed=0)
    x = images()
    assert not np.allclose(model(x), model(x)), "Keras' augmentation must be random when called without training"
    path = deploy.export_saved_model(model, tmp_path / "served")
    served = tf.saved_model.load(str(path))
    first, second = served.serve(x).numpy(), served.serve(x).numpy()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, model.predict(x, verbose=0), atol=1e-6)
    deploy.export_saved_model(tiny_cnn((4,), seed=1), path)   # overwrite: no leftovers beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]
    assert not np.allclose(tf.saved_model.load(str(path)).serve(x).numpy(), first)


def test_a_saved_model_export_never_replaces_what_is_not_a_saved_model(tmp_path):
    """08 and 09 save a .keras file and export a SavedModel on neighbouring lines: a mixed-up path loses nothing."""
    model = tiny_cnn((4,), seed=0)
    keras_file = deploy.save_portable(model, tmp_path / "best.keras")
    notes = tmp_path / "mine" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("keep me")
    for path, said in ((keras_file, "is a file"), (notes.parent, "is a folder of other files")):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        with pytest.raises(ValueError, match=f"{said}, not a SavedModel to replace; give a new folder"):
            deploy.export_saved_model(model, path)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert notes.read_text() == "keep me" and keras_file.is_file()
