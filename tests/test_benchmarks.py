"""The benchmark scripts' --smoke modes (each runs end to end on a tiny budget and writes its JSON), and the
pieces of modern_cnn_variants that its numbers rest on."""
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script, out, monkeypatch, capsys):
    """``python benchmarks/<script> --smoke --out <out>``, in this process: TensorFlow is imported once for all the
    smoke runs (throughput's settings still start their own processes)."""
    import tensorflow as tf

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(out.parent / "artifacts"))
    capsys.readouterr()
    # Eagerly: on one batch, tracing each model's train, test and predict functions costs more than running them
    # (the scripts' models run as graphs in the notebooks and the unit tests).
    tf.config.run_functions_eagerly(True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run_functions_eagerly`")
            assert load_benchmark(Path(script).stem).main(["--smoke", "--out", str(out)]) == 0
    finally:
        tf.config.run_functions_eagerly(False)
    stdout = capsys.readouterr().out
    rendered = load_benchmark("report").render(Path(script).stem, out)  # the README's table of it renders too
    assert "|---|" in rendered and "Measured on" in rendered
    return stdout, json.loads(out.read_text())


@pytest.mark.benchmark
def test_time_to_accuracy_smoke(tmp_path, mnist, monkeypatch, capsys):
    stdout, result = run("time_to_accuracy.py", tmp_path / "tta.json", monkeypatch, capsys)
    assert "seconds to 99.2%" in stdout and "ratio (a)/(b)" in stdout
    assert [r["recipe"] for r in result["recipes"]] == ["keras-io mnist_convnet", "mnistkit FAST_CNN"]
    assert all(len(r["per_epoch"]) == 1 and 0 <= r["final_test_accuracy"] <= 1 for r in result["recipes"])
    keras_io, fast = (r["params"] for r in result["recipes"])
    assert keras_io == 34_826  # the keras-io example's model, as its page documents it
    fast_cnn = load_benchmark("common").FAST_CNN.build(train_size=800, epochs=1, seed=0)
    assert fast == fast_cnn.count_params() and f"{keras_io:,}" in stdout and f"{fast:,}" in stdout


@pytest.mark.benchmark
def test_throughput_smoke(tmp_path, mnist, monkeypatch, capsys):
    stdout, result = run("throughput.py", tmp_path / "tp.json", monkeypatch, capsys)
    assert "FLOP bound" in stdout and "x plain" in stdout and list(result["models"]) == ["mlp"]
    rows = result["models"]["mlp"]["results"]
    assert rows[0]["setting"].startswith("plain model.fit") and all(r["samples_per_s"] > 0 for r in rows)
    assert len(rows) == 1  # one fresh process: the bfloat16 policy has its own test (modern_cnn_variants)
    assert result["models"]["mlp"]["flop_bound_samples_per_s"] > rows[0]["samples_per_s"]


@pytest.mark.benchmark
def test_input_pipeline_smoke(tmp_path, mnist, monkeypatch, capsys):
    stdout, result = run("input_pipeline.py", tmp_path / "pipeline.json", monkeypatch, capsys)
    assert "idle CPU-s/epoch" in stdout and "vs numpy" in stdout
    assert len(result["models"]) == 2 and "CNN" in result["models"][0]["model"]
    for m in result["models"]:
        rows = m["results"]
        assert m["validation_images"] == 100  # every epoch validates, as train() does
        assert [r["way"] for r in rows] == list(load_benchmark("input_pipeline").WAYS)  # numpy first: the ratios
        assert all(r["epochs_timed"] == 1 and r["seconds"] > 0 for r in rows)  # 2 epochs, the first untimed


@pytest.mark.benchmark
def test_modern_cnn_variants_smoke(tmp_path, mnist, monkeypatch, capsys):
    stdout, result = run("modern_cnn_variants.py", tmp_path / "variants.json", monkeypatch, capsys)
    variants = load_benchmark("modern_cnn_variants")
    rows = {r["variant"]: r for r in result["variants"]}
    assert tuple(rows) == variants.SMOKE_VARIANTS and all(r["epochs"] == 1 for r in rows.values())
    # the recipe is common.MODERN_CNN; the two-block variant is smaller; both train in float32
    assert rows["recipe"]["params"] > rows["2 blocks 64-128"]["params"] > 0
    assert {name: r["policy"] for name, r in rows.items()} == {"recipe": "float32", "2 blocks 64-128": "float32"}
    for name, r in rows.items():
        accuracies = [v for k, v in r.items() if k.endswith("_accuracy")]
        # final weights, EMA x2, and for the recipe test-time augmentation x2 (each on val and test)
        assert len(accuracies) == 2 + 4 + (4 if name == "recipe" else 0)
        assert all(0 <= a <= 1 for a in accuracies)
    assert "test-time augmentation" in stdout and f"{rows['recipe']['params']:,}" in stdout


@pytest.mark.benchmark
def test_seed_ensemble_smoke(tmp_path, mnist, monkeypatch, capsys):
    stdout, result = run("seed_ensemble.py", tmp_path / "ensemble.json", monkeypatch, capsys)
    ensemble = load_benchmark("seed_ensemble")
    assert [r["seed"] for r in result["seeds"]] == list(ensemble.SEEDS)
    modern = ensemble.common.MODERN_CNN.build(train_size=256, epochs=1, seed=0).count_params()
    assert all(r["params"] == modern and r["epochs"] == 1 for r in result["seeds"])
    accuracies = [r[f"{s}_accuracy"] for r in result["seeds"] for s in ("val", "test")]
    accuracies += [result["ensemble"]["val_accuracy"], result["ensemble"]["test_accuracy"]]
    assert all(0 <= a <= 1 for a in accuracies)
    assert result["ensemble"]["seconds"] == pytest.approx(sum(r["seconds"] for r in result["seeds"]))
    test = result["mcnemar_seed42_vs_ensemble"]
    assert test["a_only"] + test["b_only"] + test["both_right"] + test["both_wrong"] == result["test_images"]
    assert "ensemble of the three" in stdout and "McNemar on test" in stdout


def test_seed_ensemble_averages_probabilities_not_votes():
    """Two members lean to class 0, one is sure of class 1: the vote says 0, the averaged probabilities say 1."""
    import numpy as np

    ensemble = load_benchmark("seed_ensemble")
    leaning = np.array([[0.55, 0.45, 0.0]])
    sure = np.array([[0.0, 1.0, 0.0]])
    mean = ensemble.average_probabilities([leaning, leaning, sure])
    np.testing.assert_allclose(mean, [[1.1 / 3, 1.9 / 3, 0.0]])
    assert ensemble.accuracy(mean, [1]) == 1.0 and ensemble.accuracy(leaning, [1]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        ensemble.average_probabilities([leaning, np.ones((2, 3))])
    with pytest.raises(ValueError, match="one or more"):
        ensemble.average_probabilities([])


def load_benchmark(name):
    if str(BENCHMARKS) not in sys.path:  # the scripts import their shared module, benchmarks/common.py
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weight_average_follows_its_momentum():
    """Momentum 0 ends on the last weights, momentum 1 never leaves the first ones; both are copies."""
    import keras
    import numpy as np

    variants = load_benchmark("modern_cnn_variants")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    first = [v.numpy().copy() for v in model.trainable_variables]
    average = variants.WeightAverage(momenta=(0.0, 1.0))
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    model.fit(x, x[:, :3] * 2, epochs=2, batch_size=16, callbacks=[average], verbose=0)
    last = [v.numpy() for v in model.trainable_variables]
    assert not np.allclose(first[0], last[0])
    for avg, w in zip(average.averages[0.0], last):
        np.testing.assert_allclose(avg.numpy(), w, rtol=1e-6)
    for avg, w in zip(average.averages[1.0], first):
        np.testing.assert_array_equal(avg.numpy(), w)


def test_shifted_moves_pixels_and_blanks_the_border():
    import numpy as np

    shifted = load_benchmark("modern_cnn_variants").shifted
    x = np.arange(2 * 28 * 28, dtype="float32").reshape(2, 28, 28)
    right = shifted(x, 0, 1)
    assert right.shape == x.shape
    np.testing.assert_array_equal(right[:, :, 1:], x[:, :, :-1])
    assert not right[:, :, 0].any()
    down = shifted(x.reshape(2, 784), -1, 0).reshape(2, 28, 28)  # flat images keep their shape too
    np.testing.assert_array_equal(down[:, :-1], x[:, 1:])
    assert not down[:, -1].any()


def test_keras_layers_are_the_same_moves_in_two_resamplings():
    """The comparison pipeline: Keras' rotation (zoom) and shift layers, off at inference, random in training."""
    import keras
    import numpy as np

    variants = load_benchmark("modern_cnn_variants")
    x = np.random.default_rng(0).random((4, 28, 28)).astype("float32")
    for zoom, kinds in ((0.0, ["RandomRotation", "RandomTranslation"]),
                        (0.1, ["RandomRotation", "RandomZoom", "RandomTranslation"])):
        block = variants.keras_layers(shift=0.08, rotation=0.03, seed=0, zoom=zoom)
        assert [type(layer).__name__ for layer in block.layers[1:-1]] == kinds
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(block(x, training=False)), x)
        moved = keras.ops.convert_to_numpy(block(x, training=True))
        assert moved.shape == x.shape and not np.allclose(moved, x)


def test_elastic_variant_is_the_recipes_moves_plus_a_smooth_displacement():
    """Alpha 0 resamples exactly as mnistkit's augmentation (same seed, same draws); alpha > 0 adds a displacement
    that is smooth (neighbouring pixels move together) and grows with alpha; images pass untouched at inference."""
    import keras
    import numpy as np

    import mnistkit as mk

    variants = load_benchmark("modern_cnn_variants")
    x = np.random.default_rng(0).random((8, 28, 28)).astype("float32")
    plain = keras.ops.convert_to_numpy(mk.models.augmentation(shift=0.08, rotation=0.03, seed=5)(x, training=True))
    none = variants.ElasticShiftRotate(shift=0.08, rotation=0.03, alpha=0.0, seed=5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(none(x, training=True)), plain, atol=1e-5)
    elastic = variants.ElasticShiftRotate(shift=0.08, rotation=0.03, alpha=34.0, seed=5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(elastic(x, training=False)), x)
    # on an image whose pixels hold their own column number, bilinear resampling returns the column each output
    # pixel read from: the displacement itself (no shift or rotation, away from the border)
    columns = np.tile(np.arange(28, dtype="float32"), (64, 28, 1))
    moves = {}
    for alpha in (10.0, 34.0):
        bend = variants.ElasticShiftRotate(shift=0.0, rotation=0.0, alpha=alpha, seed=1)
        moves[alpha] = (keras.ops.convert_to_numpy(bend(columns, training=True)) - columns)[:, 8:20, 8:20]
    assert 0.2 < np.abs(moves[34.0]).mean() < 3              # about a pixel, as in Simard et al.
    np.testing.assert_allclose(moves[10.0], moves[34.0] * 10 / 34, atol=1e-3)   # same draws, scaled by alpha
    neighbours = np.abs(np.diff(moves[34.0], axis=2)).mean()
    assert neighbours < 0.25 * np.abs(moves[34.0]).mean()    # smooth: neighbours move nearly alike


@pytest.mark.benchmark
def test_bfloat16_variant_trains_in_mixed_precision_and_restores_float32(tmp_path, monkeypatch):
    """The policy is global in Keras: the variant sets it for its own run and puts float32 back, even on failure."""
    import keras
    import numpy as np

    import mnistkit as mk

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    variants = load_benchmark("modern_cnn_variants")
    rng = np.random.default_rng(0)
    images = lambda n: rng.random((n, 28, 28)).astype("float32")  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n)  # noqa: E731
    data = mk.data.Splits(images(64), labels(64), images(16), labels(16), images(16), labels(16))
    row = variants.train_variant("bfloat16", variants.VARIANTS["bfloat16"], data, epochs_cap=1, seed=0)
    assert row["policy"] == "mixed_bfloat16" and row["params"] == 878_842
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError):
        variants.train_variant("broken", {"policy": "mixed_bfloat16", "recipe": {"model": {"filters": ()}}}, data,
                               epochs_cap=1, seed=0)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_modern_cnn_variants_keeps_finished_variants_and_resumes_only_the_same_run(tmp_path, monkeypatch, capsys):
    """The JSON is rewritten after every variant: a run stopped mid-way keeps what it finished, ``--resume`` trains
    only the rest, and refuses (exit 2, no change) a file from another seed. Training is replaced by a stub."""
    import numpy as np

    import mnistkit as mk

    variants = load_benchmark("modern_cnn_variants")
    trained, stop_at = [], {"2 blocks 64-128"}

    def fake_train(name, spec, data, *, epochs_cap, seed):
        if name in stop_at:
            raise KeyboardInterrupt  # Ctrl-C during this variant
        trained.append(name)
        ema = {f"ema{m}_{s}_accuracy": 0.5 for m in variants.EMA_MOMENTA for s in ("val", "test")}
        return {"variant": name, "params": 1, "epochs": 1, "batch_size": 256, "seconds": 1.0,
                "val_accuracy": 0.9, "test_accuracy": 0.8, "val_curve": [0.9], **ema}

    tiny = np.zeros((2, 28, 28), "float32"), np.zeros(2, int)
    monkeypatch.setattr(variants, "train_variant", fake_train)
    monkeypatch.setattr(variants.mk.data, "load_mnist_splits", lambda **_: mk.data.Splits(*tiny, *tiny, *tiny))
    out = tmp_path / "variants.json"
    only = ["--out", str(out), "--only", "batch 128", "recipe", "2 blocks 64-128"]
    with pytest.raises(KeyboardInterrupt):
        variants.main(only)
    first = json.loads(out.read_text())
    assert trained == ["batch 128", "recipe"]
    assert [r["variant"] for r in first["variants"]] == ["recipe", "batch 128"]  # in VARIANTS' order
    assert "2 blocks 64-128" in first["not_run"] and "recipe" not in first["not_run"]

    stop_at.clear()
    trained.clear()
    assert variants.main([*only, "--resume"]) == 0
    assert trained == ["2 blocks 64-128"]
    assert "2 variants kept, 1 to run" in capsys.readouterr().out
    assert [r["variant"] for r in json.loads(out.read_text())["variants"]] == ["recipe", "2 blocks 64-128",
                                                                                "batch 128"]
    before = out.read_text()
    assert variants.main([*only, "--resume", "--seed", "7"]) == 2
    assert "seed 42 (this run: 7)" in capsys.readouterr().err and out.read_text() == before
    trained.clear()
    assert variants.main(only) == 0 and len(trained) == 3  # without --resume a run starts over
