import keras_tuner as kt
import numpy as np
import pytest
from synthetic import tiny_splits

from mnistkit import tuning


def test_hypermodel_builds_from_default_hyperparameters_and_fits_one_step():
    for space in tuning.LR_SPACES:
        hp = kt.HyperParameters()
        model = tuning.MLPHyperModel(lr_space=space).build(hp)
        assert {"layers", "units_1", "learning_rate", "dropout", "activation"} <= set(hp.values)
        data = tiny_splits()
        history = model.fit(data.x_train[:32], data.y_train[:32], batch_size=32, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])


def test_inactive_layer_sizes_are_left_out():
    hp = kt.HyperParameters()
    tuning.MLPHyperModel().build(hp)             # the defaults: one layer, so units_1 only
    hp.values["layers"] = 3                      # a trial with three layers registers units_2 and units_3
    tuning.MLPHyperModel().build(hp)
    assert {"units_1", "units_2", "units_3"} <= set(hp.values)
    hp.values["layers"] = 1                      # a later trial with one layer: units_2 and units_3 are inactive
    hp.values.update({"tuner/epochs": 3, "tuner/bracket": 1})  # what Hyperband adds to its trials
    active = tuning.hyperparameters_of(hp)
    assert "units_1" in active and not {"units_2", "units_3"} & set(active)
    assert active["layers"] == 1 and not [name for name in active if name.startswith("tuner/")]


def test_bad_tuner_arguments_name_the_choices(tmp_path):
    with pytest.raises(ValueError, match="hyperband, random, bayesian"):
        tuning.make_tuner("grid", directory=tmp_path)
    with pytest.raises(ValueError, match="factor"):
        tuning.make_tuner("hyperband", factor=1, directory=tmp_path)
    with pytest.raises(ValueError, match="choice, log"):
        tuning.MLPHyperModel(lr_space="linear")


@pytest.mark.parametrize("kwargs, message", [
    ({"objective": "val_acc"}, "choose one of: val_accuracy, val_loss, accuracy, loss"),
    ({"overwrite": "no"}, "use True or False"),       # a non-empty string would read as True: delete the search
    ({"seed": "42"}, "use an integer >= 0 such as 42, or None"),
    ({"hypermodel": tuning.MLPHyperModel}, "is the class; pass an instance: MLPHyperModel()"),
])
def test_tuner_arguments_are_checked_before_any_folder_is_made(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tuning.make_tuner("random", directory=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, "epochs"), ({"epochs": "2"}, "epochs"),
                                             ({"batch_size": 0}, "batch_size"), ({"patience": -1}, "patience")])
def test_search_arguments_are_checked_before_a_trial_runs(tmp_path, kwargs, message):
    tuner = tuning.make_tuner("random", max_trials=1, directory=tmp_path)
    with pytest.raises(ValueError, match=message):
        tuning.search(tuner, tiny_splits(), **kwargs)
    assert tuning.trials_table(tuner).empty


def test_a_second_search_in_the_same_process_runs_new_trials(tmp_path):
    data = tiny_splits()
    tables = []
    for _ in range(2):  # the same cell, run twice
        tuner = tuning.make_tuner("random", max_trials=1, seed=1, directory=tmp_path)
        tables.append(tuning.search(tuner, data, epochs=1, batch_size=64))
    for table in tables:
        assert len(table) == 1 and set(table["status"]) == {"COMPLETED"}
        assert table["seconds"].notna().all() and (table["epochs"] == 1).all()
    assert len(list(tmp_path.iterdir())) == 2  # two separate project folders


def test_hyperband_table_shows_brackets_and_running_best(tmp_path):
    tuner = tuning.make_tuner("hyperband", max_epochs=2, factor=2, seed=0, directory=tmp_path)
    table = tuning.search(tuner, tiny_splits(), epochs=2, batch_size=64)
    assert {"hb_bracket", "hb_round", "hb_epochs", "hb_initial_epoch", "best_so_far"} <= set(table.columns)
    assert (table["best_so_far"].diff().dropna() >= 0).all()
    assert table["hb_round"].max() >= 1  # some models were promoted to a bigger budget
    budget = table["hb_epochs"] - table["hb_initial_epoch"]
    assert ((table["epochs"] >= 1) & (table["epochs"] <= budget)).all()  # epochs counted per trial


@pytest.mark.parametrize("project", ["..", ".", "/tmp", "a/b", "../up", "", ".hidden"])
def test_a_project_name_that_is_not_a_plain_folder_name_is_refused_and_nothing_is_deleted(project, tmp_path):
    parent = tmp_path / "demo"
    (parent / "tun").mkdir(parents=True)
    (parent / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="plain folder name"):
        tuning.make_tuner("random", directory=parent / "tun", project=project, overwrite=True)
    assert (parent / "precious.txt").read_text() == "keep me" and (parent / "tun").is_dir()


def test_an_existing_folder_that_is_not_a_search_is_never_reused_nor_deleted(tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not a keras-tuner project folder"):
            tuning.make_tuner("random", directory=tmp_path, project="thesis", overwrite=overwrite)
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "keep me"


def test_an_earlier_search_is_resumed_unless_overwrite_is_asked(tmp_path):
    data = tiny_splits()
    first = tuning.make_tuner("random", max_trials=1, max_epochs=1, seed=0, directory=tmp_path, project="mine")
    tuning.search(first, data, epochs=1, batch_size=64)
    saved = sorted(p.name for p in (tmp_path / "mine").iterdir())
    assert tuning.is_tuner_project(tmp_path / "mine") and any(n.startswith("trial_") for n in saved)
    with pytest.warns(UserWarning, match="resuming the search"):
        again = tuning.make_tuner("random", max_trials=1, max_epochs=1, seed=0, directory=tmp_path, project="mine")
    assert len(again.oracle.trials) == 1          # the earlier trial is kept
    fresh = tuning.make_tuner("random", max_trials=1, max_epochs=1, seed=0, directory=tmp_path, project="mine",
                              overwrite=True)
    assert len(fresh.oracle.trials) == 0
