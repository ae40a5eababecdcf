import keras
import numpy as np
import pytest
from synthetic import tiny_splits

from mnistkit import data, experiments, models, results, training


def fit(tmp_path, seed=3, **kw):
    training.set_seed(seed)
    model = models.build_mlp((16,), seed=seed, dropout=0.1)
    kw = {"verbose": 0, **kw}
    return experiments.train(model, tiny_splits(), name="tiny", notebook="test", epochs=3, batch_size=32,
                             seed=seed, artifacts=tmp_path, **kw)


def test_same_seed_twice_gives_identical_results(tmp_path):
    first, second = fit(tmp_path), fit(tmp_path)
    assert first.val_accuracy == second.val_accuracy and first.val_loss == second.val_loss
    assert first.history == second.history
    assert all(np.array_equal(a, b) for a, b in zip(first.model.get_weights(), second.model.get_weights()))


def test_run_carries_validation_metrics_checkpoint_and_log_record_and_no_test_score(tmp_path):
    run = fit(tmp_path)
    assert run.val_accuracy > 0.5 and run.params == 784 * 16 + 16 + 16 * 10 + 10
    assert run.test_accuracy is None and run.test_loss is None  # train never reads the test set
    assert run.epochs == len(run.history["loss"]) == 3 and 1 <= run.best_epoch <= 3
    assert run.checkpoint.exists() and run.checkpoint.suffix == ".keras"
    reloaded = keras.saving.load_model(run.checkpoint)
    assert reloaded.count_params() == run.params
    record = results.read_records(tmp_path / results.LOG_NAME)[-1]
    assert record["name"] == "tiny" and record["notebook"] == "test" and record["val_accuracy"] == run.val_accuracy
    assert record["test_accuracy"] is None and record["test_loss"] is None
    assert record["config"]["batch_size"] == 32 and record["config"]["optimizer"] == "adam"
    assert "Run('tiny', params=12,730" in repr(run)


def test_one_hot_models_get_one_hot_targets(tmp_path):
    model = models.build_mlp((8,), labels="one_hot", seed=0)
    run = experiments.train(model, tiny_splits(), name="onehot", epochs=1, artifacts=tmp_path, verbose=0, log=False)
    splits = tiny_splits()
    val_loss = model.evaluate(splits.x_val, data.one_hot(splits.y_val), verbose=0)[0]  # one-hot, as train made them
    assert run.val_loss == pytest.approx(val_loss, rel=1e-5) and run.test_accuracy is None
    assert not (tmp_path / results.LOG_NAME).exists()


def test_early_stopping_restores_the_best_epoch(tmp_path):
    model = models.build_mlp((8,), learning_rate=0.5, optimizer="sgd", seed=0)  # noisy on purpose
    run = experiments.train(model, tiny_splits(), name="es", epochs=8, patience=1, batch_size=16,
                            artifacts=tmp_path, verbose=0, log=False)
    assert run.val_loss == pytest.approx(min(run.history["val_loss"]), rel=1e-5)


def test_one_line_an_epoch(tmp_path, capsys):
    fit(tmp_path, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
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
        experiments.train(model, tiny_splits(), artifacts=tmp_path, **args)
    assert not tmp_path.joinpath("checkpoints").exists()


def test_seeds_given_as_text_are_refused_before_keras_sees_them():
    with pytest.raises(ValueError, match=r"seed='42' is not valid; use an integer >= 0 such as 42$"):
        training.set_seed("42")
    with pytest.raises(ValueError, match="seed=None is not valid"):
        training.set_seed(None)
    for call in (lambda: training.split_batches(tiny_splits(), batch_size=32, seed="0"),
                 lambda: training.LogRun("mlp", seed=1.5),
                 lambda: models.augmentation(seed="1"),
                 lambda: models.build_mlp((8,), seed=-1)):
        with pytest.raises(ValueError, match=r"use an integer >= 0 such as 42, or None"):
            call()


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
    message = "No space left on device; the trained model's best epoch is saved"
    with pytest.raises(results.LogError, match=message) as err:
        fit(tmp_path)
    run = err.value.run
    assert str(run.checkpoint) in str(err.value)
    saved = keras.saving.load_model(run.checkpoint)
    assert all(np.array_equal(a, b) for a, b in zip(saved.get_weights(), run.model.get_weights()))


def test_non_finite_images_are_refused_before_training(tmp_path):
    splits = tiny_splits()
    splits.x_train[3, 5, 5] = np.nan
    with pytest.raises(ValueError, match="x_train has 1 image"):
        experiments.train(models.build_mlp((8,), seed=0), splits, name="nan", epochs=1, artifacts=tmp_path, verbose=0)
    assert not (tmp_path / results.LOG_NAME).exists()


def test_a_diverging_run_stops_says_so_and_is_not_logged(tmp_path):
    model = models.build_mlp((16,), seed=0, optimizer="sgd", learning_rate=1e30)
    with pytest.warns(UserWarning) as caught:
        run = experiments.train(model, tiny_splits(), name="boom", epochs=5, batch_size=32, artifacts=tmp_path,
                                verbose=0, patience=None)
    messages = [str(w.message) for w in caught]
    assert any("outside" in m for m in messages) and any("NaN or infinite" in m for m in messages)
    assert run.diverged and run.epochs == 1
    assert not (tmp_path / results.LOG_NAME).exists()


def test_impossible_learning_rates_are_refused(tmp_path):
    model = models.build_mlp((8,), seed=0)
    model.optimizer.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate=-1.0 is not valid"):
        experiments.train(model, tiny_splits(), name="neg", epochs=1, artifacts=tmp_path, verbose=0)


def test_sweep_checks_every_setting_before_the_first_fit(tmp_path):
    settings = {"ok": {"hidden": (8,)}, "bad": {"hidden": (8,), "epochs": 0}}
    with pytest.raises(ValueError, match="epochs=0"):
        experiments.sweep(models.build_mlp, tiny_splits(), settings, name="s", artifacts=tmp_path, progress=False)
    with pytest.raises(ValueError, match="cannot pass"):
        experiments.sweep(models.build_mlp, tiny_splits(), {"ok": {"hidden": (8,)}}, name="s", artifacts=tmp_path,
                          epochz=3)
    assert not (tmp_path / results.LOG_NAME).exists()


def test_lr_range_test_ramps_to_max_lr_on_a_small_training_split():
    splits = tiny_splits()                      # 400 training images: under 2 batches of 256
    model = models.build_mlp((8,), seed=0)
    frame = experiments.lr_range_test(model, splits, steps=20, batch_size=64, min_lr=1e-5, max_lr=1e-1,
                                      stop_factor=1e9, seed=0)
    assert len(frame) == 20 and frame["lr"].iloc[-1] == pytest.approx(1e-1)
    assert frame.attrs["suggested_lr"] == pytest.approx(frame["lr"][frame["smoothed"].idxmin()] / 10)
    blown = experiments.lr_range_test(models.build_mlp((8,), seed=0), splits, steps=20, batch_size=64, min_lr=1e-2,
                                      max_lr=1e3, stop_factor=4, seed=0)
    assert len(blown) < 20   # stopped once the loss passed 4x its best


# ---------------------------------------------------------------- LogRun: a plain model.fit joined to the log
def plain_fit(tmp_path, *, name="plain", epochs=4, monitor="val_loss", callbacks=(), lr=1e-3, units=16, model=None,
              checkpoint=True, **log_options):
    """model.compile + model.fit as the notebooks write them, with LogRun (and a ModelCheckpoint unless told not)."""
    if model is None:
        training.set_seed(0)
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    splits = tiny_splits()
    train_batches, val_batches = training.split_batches(splits, batch_size=32, seed=0)
    log = training.LogRun(name, notebook="test", seed=0, batch_size=32, monitor=monitor, artifacts=tmp_path,
                          **{"verbose": 0, **log_options})
    stop = [keras.callbacks.EarlyStopping(monitor=monitor, patience=10, restore_best_weights=True)] if monitor else []
    save = [keras.callbacks.ModelCheckpoint(log.checkpoint, monitor=monitor or "val_loss",
                                            save_best_only=bool(monitor))] if checkpoint else []
    model.fit(train_batches, validation_data=val_batches, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[*stop, *save, log, *callbacks])
    return log, model, splits


def test_a_fit_of_zero_epochs_is_refused_before_anything_is_logged(tmp_path):
    for epochs in (0, 2.5):
        with pytest.raises(ValueError, match=f"epochs={epochs} is not valid; give model.fit a positive integer"):
            plain_fit(tmp_path, epochs=epochs)
    assert not (tmp_path / results.LOG_NAME).exists()


def test_a_second_fit_of_a_trained_model_says_it_goes_on_from_there(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a fresh model, then the same recipe under its name: no warning
        log, model, _ = plain_fit(tmp_path, epochs=2)
        plain_fit(tmp_path, epochs=2)
    steps = int(model.optimizer.iterations)
    with pytest.warns(UserWarning, match=f"plain: this model was trained before \\({steps} optimizer steps\\).*"
                                         "rerun the cell that builds the model"):
        plain_fit(tmp_path, epochs=2, model=model)


def test_a_checkpoint_belongs_to_the_last_run_that_wrote_it(tmp_path):
    """The lesson's run, then a learner's other model under the same name: the learner is warned, and the lesson's
    record no longer points to the file (notebook 08 would load the learner's model as the lesson's)."""
    lesson = plain_fit(tmp_path)[0].run
    with pytest.warns(UserWarning, match=r"another recipe \(layers, optimizer or batch size\) was logged as 'plain' "
                                         r"before; .* replaces that run's model"):
        mine = plain_fit(tmp_path, units=64)[0].run
    board = results.leaderboard(path=tmp_path / results.LOG_NAME, details=True).set_index("run_id")
    assert board.loc[mine.run_id, "checkpoint"] == str(tmp_path / "checkpoints" / "test" / "plain.keras")
    assert board["checkpoint"].isna()[lesson.run_id]
    assert keras.saving.load_model(mine.checkpoint).count_params() == mine.params != lesson.params
    # a run that saves no checkpoint does not claim the file an earlier run left there
    unsaved = plain_fit(tmp_path, units=64, checkpoint=False)[0].run
    assert unsaved.checkpoint is None
    board = results.leaderboard(path=tmp_path / results.LOG_NAME, details=True).set_index("run_id")
    assert board.loc[mine.run_id, "checkpoint"] == str(mine.checkpoint)


def test_logrun_logs_the_epoch_the_model_kept_and_no_test_score(tmp_path):
    log, model, splits = plain_fit(tmp_path, lr=0.5, epochs=6)  # noisy on purpose: the best epoch is not the last
    run = log.run
    assert run.best_epoch == int(np.argmin(run.history["val_loss"])) + 1 and run.epochs == 6
    val_loss, val_accuracy = model.evaluate(splits.x_val, splits.y_val, verbose=0)
    assert run.val_loss == pytest.approx(val_loss, rel=1e-5) and run.val_accuracy == pytest.approx(val_accuracy)
    record = results.read_records(tmp_path / results.LOG_NAME)[-1]
    assert record["name"] == "plain" and record["notebook"] == "test" and record["seed"] == 0
    assert record["test_accuracy"] is None and record["val_loss"] == run.val_loss
    assert record["config"]["batch_size"] == 32 and record["config"]["optimizer"] == "sgd"
    assert record["checkpoint"] == str(tmp_path / "checkpoints" / "test" / "plain.keras") and log.checkpoint.exists()
    assert "test_accuracy" not in repr(run)


def test_logrun_without_early_stopping_logs_the_last_epoch(tmp_path):
    log, model, splits = plain_fit(tmp_path, monitor=None, lr=0.5, epochs=5)
    assert log.run.best_epoch == 5 and log.run.val_loss == log.run.history["val_loss"][-1]


def test_logrun_same_seed_same_record(tmp_path):
    first, second = plain_fit(tmp_path)[0].run, plain_fit(tmp_path)[0].run
    assert first.history == second.history and first.val_accuracy == second.val_accuracy


def test_logrun_finds_an_unwritable_log_before_the_first_epoch(tmp_path):
    (tmp_path / results.LOG_NAME).mkdir()
    started = []
    epoch = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *a: started.append(1))
    with pytest.raises(results.LogError, match="is a folder"):
        plain_fit(tmp_path, callbacks=[epoch])
    assert started == []


def test_logrun_stops_a_diverging_fit_and_does_not_log_it(tmp_path):
    with pytest.warns(UserWarning, match="NaN or infinite in epoch 1"):
        log, _, _ = plain_fit(tmp_path, lr=1e30, monitor=None, epochs=5)
    assert log.run.diverged and log.run.epochs == 1
    assert not (tmp_path / results.LOG_NAME).exists()


def test_logrun_refuses_an_impossible_learning_rate_before_training(tmp_path):
    with pytest.raises(ValueError, match="learning_rate=-1.0 is not valid"):
        plain_fit(tmp_path, lr=-1.0)
    assert not (tmp_path / results.LOG_NAME).exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a/b"}, "name='a/b' is not valid"),
    ({"name": ".."}, "name='..' is not valid"),
    ({"name": "my run"}, r"name='my run' is not valid; .*\(no spaces, no '/'\)"),
    ({"monitor": "acc"}, "monitor='acc'.*val_loss"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"verbose": 2}, "verbose=2 is not valid"),
])
def test_logrun_rejects_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        training.LogRun(**{"name": "ok", **kwargs}, artifacts=tmp_path)


def test_logrun_add_test_replaces_the_runs_record_on_the_leaderboard(tmp_path):
    log, model, splits = plain_fit(tmp_path)
    plain_fit(tmp_path, name="other")
    test_loss, test_accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
    run = log.add_test(test_loss, test_accuracy)
    assert run.test_accuracy == pytest.approx(test_accuracy) and "test_accuracy=" in repr(run)
    records = results.read_records(tmp_path / results.LOG_NAME)
    assert len(records) == 3 and records[0]["run_id"] == records[2]["run_id"] == run.run_id
    board = results.leaderboard(path=tmp_path / results.LOG_NAME)
    assert sorted(board["name"]) == ["other", "plain"]
    assert board.set_index("name").loc["plain", "test_accuracy"] == pytest.approx(test_accuracy)
    seeds = results.latest_runs("plain", path=tmp_path / results.LOG_NAME)
    assert seeds.loc[0, "test_accuracy"] == pytest.approx(test_accuracy)


@pytest.mark.parametrize("scores, message", [((0.1, 1.5), "test_accuracy=1.5"), ((float("nan"), 0.9), "test_loss=nan"),
                                             (("0.1", 0.9), "test_loss='0.1'")])
def test_logrun_add_test_refuses_what_evaluate_cannot_return(scores, message, tmp_path):
    log = plain_fit(tmp_path)[0]
    with pytest.raises(ValueError, match=message):
        log.add_test(*scores)
    assert len(results.read_records(tmp_path / results.LOG_NAME)) == 1


def test_logrun_add_test_before_fit_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="fit with this LogRun"):
        training.LogRun("early", artifacts=tmp_path).add_test(0.1, 0.9)


def test_reseeded_copy_is_the_model_built_again_with_another_seed(tmp_path):
    """08 trains more seeds of a saved model without a second copy of its definition."""
    def build(seed):
        augment = models.augmentation(seed=seed)
        training.set_seed(seed)
        model = keras.Sequential([keras.Input((28, 28)), augment, keras.layers.Flatten(), keras.layers.Dense(16),
                                  keras.layers.Dropout(0.2), keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 50)),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    saved = keras.saving.load_model(training.save_model(build(1), tmp_path / "m.keras"))
    copy, expected = training.reseeded_copy(saved, seed=2), build(2)
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), expected.get_weights()))
    assert copy.layers[0].seed == 2 and training.fingerprint(copy, 32) == training.fingerprint(saved, 32)
    assert isinstance(copy.optimizer._learning_rate, keras.optimizers.schedules.CosineDecay)
    histories = []
    for model in (copy, expected):
        train_batches, val_batches = training.split_batches(tiny_splits(), batch_size=32, seed=2)
        histories.append(model.fit(train_batches, validation_data=val_batches, epochs=2, shuffle=False,
                                   verbose=0).history)
    assert histories[0] == histories[1]


def test_reseeded_copy_needs_a_compiled_model():
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="never compiled"):
        training.reseeded_copy(model, seed=1)


def test_a_checkpoint_stays_in_its_notebook_folder_under_the_artifacts(tmp_path):
    path = training.checkpoint_path("r", notebook="02_baseline", artifacts=tmp_path)
    assert path == tmp_path / "checkpoints" / "02_baseline" / "r.keras"
    for notebook in ("../../escape", "03/arch", "", "/abs"):
        with pytest.raises(ValueError, match="notebook=.* is not valid; use a plain folder name"):
            training.checkpoint_path("r", notebook=notebook, artifacts=tmp_path)
    assert not (tmp_path.parent / "escape").exists()


def test_logrun_says_what_it_logged_in_one_line(tmp_path, capsys):
    plain_fit(tmp_path, monitor=None, epochs=1, name="one", verbose=1)
    plain_fit(tmp_path, monitor=None, epochs=2, name="two", verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" in ")[0] for line in lines] == ["logged 'one': 1 epoch", "logged 'two': 2 epochs"], lines
    assert lines[1].endswith(f"kept epoch 2: val_accuracy {float(lines[1].rsplit(' ', 1)[1]):.4f}")


def test_a_run_fitted_without_validation_data_still_prints():
    run = training.Run("no-val", model=None, history={}, params=10, epochs=1, best_epoch=1, seconds=0.5,
                       val_accuracy=None, val_loss=None)
    assert repr(run) == "Run('no-val', params=10, epochs=1 (best 1), 0.5 s, val_accuracy=none)"
