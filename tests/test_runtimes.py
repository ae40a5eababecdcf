"""mnistkit.runtimes: exported files run in their own runtimes agree with Keras, and compare() measures them."""
import numpy as np
import pytest
import tensorflow as tf
from synthetic import tiny_cnn

from mnistkit import deploy, models, quiet_stderr, runtimes

pytest.importorskip("onnxruntime", reason="pip install -e '.[deploy]'")
pytest.importorskip("ai_edge_litert", reason="pip install -e '.[deploy]'")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    model = deploy.inference_model(tiny_cnn((4, 8), augment=models.augmentation(seed=0), batch_norm=True,
                                                    seed=0))
    x = np.random.default_rng(0).random((40, 28, 28)).astype("float32")
    saved = deploy.export_saved_model(model, folder / "savedmodel")
    with deploy.quiet_export():
        model.export(str(folder / "float32.tflite"), format="litert", verbose=False)
        model.export(str(folder / "model.onnx"), format="onnx", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serve"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in x)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        (folder / "int8.tflite").write_bytes(converter.convert())
    return model, folder, x


def test_every_runtime_predicts_what_keras_predicts(exported):
    model, folder, x = exported
    expected = model.predict(x, verbose=0)
    for rt in (runtimes.savedmodel_runtime(folder / "savedmodel"), runtimes.litert_runtime(folder / "float32.tflite"),
               runtimes.onnx_runtime(folder / "model.onnx")):
        got = rt.predict(x, batch_size=16)       # 16, 16, then a batch of 8: the interpreter is resized for each
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=repr(rt))
    int8 = runtimes.litert_runtime(folder / "int8.tflite", variant="int8").predict(x)
    assert int8.shape == expected.shape and np.abs(int8 - expected).max() < 0.1


def test_compare_reports_accuracy_agreement_size_and_latency(exported):
    model, folder, x = exported
    y = model.predict(x, verbose=0).argmax(1)
    y[:10] = (y[:10] + 1) % 10                   # the first ten labels wrong: accuracy 0.75, agreement 1
    rts = [runtimes.keras_runtime(model), runtimes.onnx_runtime(folder / "model.onnx")]
    table = runtimes.compare(rts, x, y, reference=model.predict(x, verbose=0).argmax(1), batch_size=16, single=3,
                             rounds=1, timing_images=32)
    assert list(table["format"]) == ["Keras", "ONNX"]
    assert table["test accuracy"].tolist() == [0.75, 0.75] and table["agreement"].tolist() == [1.0, 1.0]
    assert table.loc[1, "size (KB)"] == pytest.approx((folder / "model.onnx").stat().st_size / 1024)
    assert (table["ms/image (batch 1)"] > 0).all() and (table["ms/1000 (batch 16)"] > 0).all()
    with pytest.raises(ValueError, match="rounds=0 is not valid; use a positive integer"):
        runtimes.compare(rts, x, y, reference=y, rounds=0)
    with pytest.raises(ValueError, match=r"x and y differ in length \(40 vs 39\)"):
        runtimes.compare(rts, x, y[:39], reference=y[:39])
    with pytest.raises(ValueError, match=r"holds probabilities.*argmax\(1\)"):
        runtimes.compare(rts, x, y, reference=model.predict(x, verbose=0))


def test_a_wrong_file_for_a_runtime_is_one_line_naming_what_it_opens(exported):
    _, folder, x = exported
    for make, path, message in [
        (runtimes.litert_runtime, folder / "model.onnx", "model.onnx: a file; the LiteRT runtime opens a .tflite file"),
        (runtimes.litert_runtime, folder / "int8.tfite", "int8.tfite: no such file or folder; the LiteRT runtime"),
        (runtimes.litert_runtime, folder, "a folder; the LiteRT runtime opens a .tflite file"),
        (runtimes.onnx_runtime, folder / "int8.tflite", "int8.tflite: a file; the ONNX runtime opens a .onnx file"),
        (runtimes.savedmodel_runtime, folder / "model.onnx", "the SavedModel runtime opens a SavedModel folder"),
    ]:
        with pytest.raises(ValueError, match=message):
            make(path)
    with pytest.raises(ValueError, match="threads=0 is not valid; use a positive integer"):
        runtimes.litert_runtime(folder / "int8.tflite", variant="int8", threads=0)
    one = runtimes.litert_runtime(folder / "int8.tflite", variant="int8", threads=1)
    assert one.variant == "int8, 1 thread" and runtimes.litert_runtime(folder / "int8.tflite").variant == "float32"
    y = np.zeros(len(x), dtype=int)
    with pytest.warns(UserWarning, match="x's pixels run from 0 to 25.; .*divide 0-255 images by 255"):
        runtimes.compare([one], (x * 255).astype(np.uint8), y, reference=y, single=1, rounds=1, timing_images=8)


def test_int8_weights_are_integers_with_one_scale_per_channel(exported):
    model, folder, _ = exported
    stored = runtimes.int8_weights(folder / "int8.tflite")
    kernel = model.get_layer("softmax").kernel.numpy().T
    integers, scales = next(v for v in stored.values() if v[0].shape == kernel.shape)
    assert integers.dtype == np.int8 and scales.shape == (10,)
    assert np.abs(integers * scales[:, None] - kernel).max() <= scales.max() / 2 + 1e-7


def test_quiet_stderr_silences_file_descriptor_2(capfd):
    import os

    with quiet_stderr():
        os.write(2, b"C++ log line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
