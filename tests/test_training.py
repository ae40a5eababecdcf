import keras
import numpy as np
import pytest

from mnistkit import models, results, training
from synthetic import tiny_splits


def fit(tmp_path, seed=3, **kw):
    training.set_seed(seed)
    model = models.build_mlp((16,), seed=seed, dropout=0.1)
    kw = {"verbose": 0, **kw}
    return training.train(model, tiny_splits(), name="tiny", notebook="test", epochs=3, batch_size=32,
                          seed=seed, artifacts=tmp_path, **kw)


def test_same_seed_twice_gives_identical_results(tmp_path):
    first, second = fit(tmp_path), fit(tmp_path)
    assert first.test_accuracy == second.test_accuracy and first.val_loss == second.val_loss
    assert first.history == second.history
    assert all(np.array_equal(a, b) for a, b in zip(first.model.get_weights(), second.model.get_weights()))


def test_run_carries_metrics_checkpoint_and_log_record(tmp_path):
    run = fit(tmp_path)
    assert run.test_accuracy > 0.5 and run.params == 784 * 16 + 16 + 16 * 10 + 10
    assert run.epochs == len(run.history["loss"]) == 3 and 1 <= run.best_epoch <= 3
    assert run.checkpoint.exists() and run.checkpoint.suffix == ".keras"
    reloaded = keras.saving.load_model(run.checkpoint)
    assert reloaded.count_params() == run.params
    record = results.read_records(tmp_path / results.LOG_NAME)[-1]
    assert record["name"] == "tiny" and record["notebook"] == "test" and record["test_accuracy"] == run.test_accuracy
    assert record["config"]["batch_size"] == 32 and record["config"]["optimizer"] == "adam"
    assert "Run('tiny', params=12,730" in repr(run)


def test_one_hot_models_get_one_hot_targets(tmp_path):
    model = models.build_mlp((8,), labels="one_hot", seed=0)
    run = training.train(model, tiny_splits(), name="onehot", epochs=1, artifacts=tmp_path, verbose=0, log=False)
    assert 0 <= run.test_accuracy <= 1
    assert not (tmp_path / results.LOG_NAME).exists()


def test_early_stopping_restores_the_best_epoch(tmp_path):
    model = models.build_mlp((8,), learning_rate=0.5, optimizer="sgd", seed=0)  # noisy on purpose
    run = training.train(model, tiny_splits(), name="es", epochs=8, patience=1, batch_size=16,
                         artifacts=tmp_path, verbose=0, log=False)
    assert run.val_loss == pytest.approx(min(run.history["val_loss"]), rel=1e-5)


def test_one_line_an_epoch(tmp_path, capsys):
    fit(tmp_path, verbose=1)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 3 and "val_accuracy" in lines[0] and lines[0].endswith(" s")


def epoch_orders(ds):
    return [np.concatenate([y.numpy() for _, y in ds]) for _ in range(2)]


def test_batches_cover_every_image_once_an_epoch_in_a_seeded_order():
    x = np.arange(50, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    y = np.arange(50)
    ds = training.batches(x, y, batch_size=16, seed=7)
    first, second = epoch_orders(ds)
    assert [len(b) for b, _ in ds] == [16, 16, 16, 2]
    assert all(np.array_equal(xb[:, 0].numpy(), yb.numpy()) for xb, yb in ds)  # images stay with their labels
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second) and not np.array_equal(first, y)  # reshuffled every epoch
    again = epoch_orders(training.batches(x, y, batch_size=16, seed=7))
    assert all(np.array_equal(a, b) for a, b in zip(again, (first, second)))  # same seed, same orders
    assert all(np.array_equal(o, y) for o in epoch_orders(training.batches(x, y, batch_size=16, shuffle=False)))
    assert ds.options().autotune.enabled is False


@pytest.mark.parametrize("kwargs,message", [({"batch_size": 0}, "batch_size=0"), ({"y": np.zeros(3)}, "differ")])
def test_batches_reject_bad_arguments(kwargs, message):
    args = {"x": np.zeros((4, 2), "float32"), "y": np.zeros(4), **kwargs}
    with pytest.raises(ValueError, match=message):
        training.batches(args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "epochs=0"), ({"batch_size": 2.5}, "batch_size"), ({"patience": -1}, "patience"),
    ({"monitor": "val_auc"}, "val_loss, val_accuracy"), ({"name": ""}, "name"), ({"verbose": 2}, "verbose"),
])
def test_bad_train_arguments_raise_before_fitting(kwargs, message, tmp_path):
    model = models.build_mlp((8,), seed=0)
    args = {"name": "x", **kwargs}
    with pytest.raises(ValueError, match=message):
        training.train(model, tiny_splits(), artifacts=tmp_path, **args)
    assert not tmp_path.joinpath("checkpoints").exists()


def test_set_seed_rejects_non_integers():
    with pytest.raises(ValueError, match="non-negative integer"):
        training.set_seed("42")


def test_cosine_schedule_warms_up_then_anneals():
    import keras
    schedule = training.cosine_schedule(1e-2, epochs=10, train_size=1000, batch_size=100, warmup_fraction=0.2)
    rate = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))
    assert rate(0) == pytest.approx(4e-4) and rate(20) == pytest.approx(1e-2, rel=1e-3)
    assert rate(60) < rate(20) and rate(99) < 1e-4
    plain = training.cosine_schedule(1e-2, epochs=10, train_size=1000, batch_size=100)
    assert float(keras.ops.convert_to_numpy(plain(0))) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="warmup_fraction"):
        training.cosine_schedule(1e-2, epochs=1, train_size=10, batch_size=1, warmup_fraction=1)


def test_an_unwritable_log_is_found_before_the_first_epoch(tmp_path):
    (tmp_path / results.LOG_NAME).mkdir()      # a folder where the log should be
    started = []
    epoch = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *a: started.append(1))
    with pytest.raises(results.LogError, match="is a folder"):
        fit(tmp_path, callbacks=[epoch])
    assert started == []


def test_a_log_failure_after_training_keeps_the_model_and_says_where(tmp_path, monkeypatch):
    def full_disk(record, *, path=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "append_record", full_disk)
    with pytest.raises(results.LogError, match="No space left on device; the trained model's best epoch is saved") as err:
        fit(tmp_path)
    assert err.value.run.model is not None and err.value.run.checkpoint.exists()


def test_non_finite_images_are_refused_before_training(tmp_path):
    splits = tiny_splits()
    splits.x_train[3, 5, 5] = np.nan
    with pytest.raises(ValueError, match="x_train has 1 image"):
        training.train(models.build_mlp((8,), seed=0), splits, name="nan", epochs=1, artifacts=tmp_path, verbose=0)
    assert not (tmp_path / results.LOG_NAME).exists()


def test_a_diverging_run_stops_says_so_and_is_not_logged(tmp_path):
    model = models.build_mlp((16,), seed=0, optimizer="sgd", learning_rate=1e30)
    with pytest.warns(UserWarning) as caught:
        run = training.train(model, tiny_splits(), name="boom", epochs=5, batch_size=32, artifacts=tmp_path,
                             verbose=0, patience=None)
    messages = [str(w.message) for w in caught]
    assert any("outside" in m for m in messages) and any("NaN or infinite" in m for m in messages)
    assert run.diverged and run.epochs == 1
    assert not (tmp_path / results.LOG_NAME).exists()


def test_impossible_learning_rates_are_refused(tmp_path):
    model = models.build_mlp((8,), seed=0)
    model.optimizer.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate=-1.0 is not valid"):
        training.train(model, tiny_splits(), name="neg", epochs=1, artifacts=tmp_path, verbose=0)


def test_sweep_checks_every_setting_before_the_first_fit(tmp_path):
    settings = {"ok": {"hidden": (8,)}, "bad": {"hidden": (8,), "epochs": 0}}
    with pytest.raises(ValueError, match="epochs=0"):
        training.sweep(models.build_mlp, tiny_splits(), settings, name="s", artifacts=tmp_path, progress=False)
    with pytest.raises(ValueError, match="cannot pass"):
        training.sweep(models.build_mlp, tiny_splits(), {"ok": {"hidden": (8,)}}, name="s", artifacts=tmp_path,
                       epochz=3)
    assert not (tmp_path / results.LOG_NAME).exists()


def test_lr_range_test_ramps_to_max_lr_on_a_small_training_split():
    splits = tiny_splits()                      # 400 training images: under 2 batches of 256
    model = models.build_mlp((8,), seed=0)
    frame = training.lr_range_test(model, splits, steps=20, batch_size=64, min_lr=1e-5, max_lr=1e-1,
                                   stop_factor=1e9, seed=0)
    assert len(frame) == 20 and frame["lr"].iloc[-1] == pytest.approx(1e-1)
