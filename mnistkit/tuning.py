"""keras-tuner plumbing for notebook 06: the MLP hypermodel, rerun-safe tuner factories, a trials table.

Rerun-safe means: every search gets a fresh project folder under ``<artifacts>/tuning/``, so running a cell
twice runs new trials. A named project that exists already is resumed, with a warning, unless ``overwrite=True``;
only a keras-tuner project folder is ever removed, and a project name is one plain folder name.
"""
from __future__ import annotations

import itertools
import os
import re
import time
import warnings
from pathlib import Path

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
import pandas as pd  # noqa: E402

from . import config  # noqa: E402
from .checks import (  # noqa: E402
    check_choice,
    check_flag,
    check_folder,
    check_plain_name,
    check_positive_ints,
    check_seed,
    is_int,
)
from .data import Splits  # noqa: E402
from .models import build_mlp  # noqa: E402
from .training import split_batches  # noqa: E402

LR_SPACES = ("choice", "log")
LEARNING_RATES = (5e-3, 1e-3, 1e-4)
ACTIVATIONS = ("relu", "gelu", "tanh")
_counter = itertools.count(1)


class MLPHyperModel(kt.HyperModel):
    """MLPs with 1-3 hidden layers of 32-512 units, a learning rate, dropout, an activation and batch norm on/off.

    Parameters
    ----------
    lr_space : {"choice", "log"}, default="choice"
        ``"choice"`` picks one of 5e-3, 1e-3, 1e-4; ``"log"`` samples 1e-4 to 5e-3 log-uniformly.
    """

    def __init__(self, *, lr_space: str = "choice", name: str = "mlp"):
        super().__init__(name=name, tunable=True)
        self.lr_space = check_choice("lr_space", lr_space, LR_SPACES)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        layers = hp.Int("layers", 1, 3)
        units = tuple(hp.Int(f"units_{i + 1}", 32, 512, step=32) for i in range(layers))
        if self.lr_space == "choice":
            lr = hp.Choice("learning_rate", list(LEARNING_RATES))
        else:
            lr = hp.Float("learning_rate", min(LEARNING_RATES), max(LEARNING_RATES), sampling="log")
        return build_mlp(units, activation=hp.Choice("activation", list(ACTIVATIONS)),
                         dropout=hp.Float("dropout", 0.0, 0.5, step=0.1), batch_norm=hp.Boolean("batch_norm"),
                         learning_rate=lr)


def hyperparameters_of(hp: kt.HyperParameters) -> dict:
    """The model's active hyperparameters as a plain dict: inactive ``units_k`` of unused layers dropped, and so is
    Hyperband's bookkeeping (``tuner/epochs``, ``tuner/bracket``, ...), which ``trials_table`` shows apart."""
    values = {name: value for name, value in hp.values.items() if not name.startswith("tuner/")}
    for k in range(values.get("layers", 3) + 1, 4):
        values.pop(f"units_{k}", None)
    return values


class _EpochCounter(keras.callbacks.Callback):
    """Counts the epochs a trial trains. keras-tuner deep-copies callbacks for each trial, so this one
    returns itself from ``__deepcopy__`` to keep the count where ``_Timed`` can read it."""

    def __init__(self):
        super().__init__()
        self.epochs = 0

    def __deepcopy__(self, memo):
        return self

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


class _Timed:
    """Mixin that records each trial's wall time and epochs trained (keras-tuner itself keeps one
    metric value per run, not per epoch) and, on a distributed worker (``worker_log`` set), appends
    which worker ran which trial."""

    worker_log = None

    def run_trial(self, trial, *args, **kwargs):
        counter = _EpochCounter()
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), counter]
        start = time.perf_counter()
        try:
            return super().run_trial(trial, *args, **kwargs)
        finally:
            seconds = self.trial_seconds[trial.trial_id] = time.perf_counter() - start
            self.trial_epochs[trial.trial_id] = counter.epochs
            if self.worker_log is not None:
                from .results import append_record

                append_record({"trial": trial.trial_id, "worker": os.environ.get("KERASTUNER_TUNER_ID"),
                               "seconds": round(seconds, 2)}, path=self.worker_log)


class TimedHyperband(_Timed, kt.Hyperband):
    pass


class TimedRandomSearch(_Timed, kt.RandomSearch):
    pass


class TimedBayesianOptimization(_Timed, kt.BayesianOptimization):
    pass


OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")  # what MLPHyperModel's compile reports


def make_tuner(kind: str, *, hypermodel: kt.HyperModel | None = None, max_trials: int = 10, max_epochs: int = 10,
               factor: int = 3, seed: int | None = None, directory: str | Path | None = None,
               project: str | None = None, objective: str = "val_accuracy", overwrite: bool = False) -> kt.Tuner:
    """A seeded tuner in its own project folder: by default a new one, so every call runs new trials.

    Parameters
    ----------
    kind : {"hyperband", "random", "bayesian"}
    hypermodel : keras_tuner.HyperModel, optional
        Default ``MLPHyperModel()``.
    max_trials : int, default=10
        Trials for random and Bayesian search (Hyperband's count follows from ``max_epochs`` and ``factor``).
    max_epochs : int, default=10
        Hyperband's largest training budget for one model.
    factor : int, default=3
        Hyperband's reduction factor: each round keeps the best 1/factor models.
    directory : str or Path, optional
        Parent folder; default ``<artifacts>/tuning``. Each search gets a new sub-folder.
    project : str, optional
        The sub-folder's name (one plain folder name); default a new unique one. (Distributed nodes share one.)
    objective : {"val_accuracy", "val_loss", "accuracy", "loss"}, default="val_accuracy"
    overwrite : bool, default=False
        If ``directory/project`` holds an earlier search: False resumes it (with a warning), True starts over
        and deletes it. A folder that is not a keras-tuner project is never deleted nor reused.
    """
    kind = check_choice("kind", kind, config.TUNERS)
    check_positive_ints(max_trials=max_trials, max_epochs=max_epochs)
    if not is_int(factor) or factor < 2:
        raise ValueError(f"factor={factor!r} is not valid; use an integer >= 2")
    objective = check_choice("objective", objective, OBJECTIVES)
    check_flag("overwrite", overwrite)
    check_seed(seed)
    if isinstance(hypermodel, type):
        raise ValueError(f"hypermodel={hypermodel.__name__} is the class; pass an instance: {hypermodel.__name__}()")
    if project is None:
        project = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_counter)}"
    project = check_plain_name("project", project)
    parent = check_folder("directory", directory or config.artifacts_dir() / "tuning")
    folder = parent / project
    if folder.exists():
        if not is_tuner_project(folder):
            raise ValueError(f"{folder} exists and is not a keras-tuner project folder; it is left as it is: "
                             f"choose another project name")
        if not overwrite:
            warnings.warn(f"resuming the search saved in {folder}; pass overwrite=True (--overwrite) to delete it "
                          f"and start over", stacklevel=2)
    common = dict(hypermodel=hypermodel or MLPHyperModel(), objective=objective, seed=seed,
                  overwrite=bool(overwrite), directory=str(parent), project_name=project)
    if kind == "hyperband":
        tuner = TimedHyperband(max_epochs=max_epochs, factor=factor, **common)
    elif kind == "random":
        tuner = TimedRandomSearch(max_trials=max_trials, **common)
    else:
        tuner = TimedBayesianOptimization(max_trials=max_trials, **common)
    tuner.trial_seconds, tuner.trial_epochs = {}, {}
    return tuner


_TUNER_FILES = re.compile(r"(oracle\.json|tuner\d*\.json|trial_\w+|workers\.jsonl|[\w-]+-tuner\d+)$")


def is_tuner_project(folder: str | Path) -> bool:
    """True for an empty folder or one holding only what keras-tuner (and this module) write in a project."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and all(
        _TUNER_FILES.match(entry.name) for entry in folder.iterdir())


def search(tuner: kt.Tuner, data: Splits, *, epochs: int = 10, batch_size: int = 256,
           patience: int = 3) -> pd.DataFrame:
    """Run ``tuner.search`` on the training split, validated on the validation split; return ``trials_table``.

    Each trial stops early after ``patience`` epochs without a better validation loss. Prints nothing
    per epoch; the returned table says what every trial did.
    """
    check_positive_ints(epochs=epochs, batch_size=batch_size)
    if not is_int(patience) or patience < 0:
        raise ValueError(f"patience={patience!r} is not valid; use an integer >= 0")
    start = time.perf_counter()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    with warnings.catch_warnings():  # Hyperband resumes models from saved weights, without optimizer state
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        train_batches, val_batches = split_batches(data, batch_size=batch_size)
        tuner.search(train_batches, validation_data=val_batches, epochs=epochs, callbacks=[stop], shuffle=False,
                     verbose=0)
    tuner.search_seconds = time.perf_counter() - start
    return trials_table(tuner)


def trials_table(tuner: kt.Tuner) -> pd.DataFrame:
    """Every trial in the order it ran: its hyperparameters, best validation accuracy, epochs trained, seconds,
    and ``best_so_far`` (the running best validation accuracy).

    Hyperband trials also carry ``hb_bracket``, ``hb_round``, ``hb_epochs`` (the round's budget) and
    ``hb_initial_epoch`` (a trial promoted from the previous round starts from its weights there).
    """
    rows = []
    trials = getattr(tuner.oracle, "trials", None)  # a distributed worker's oracle is a client without them
    for trial_id, trial in (trials or {}).items():
        values = hyperparameters_of(trial.hyperparameters)
        hb = {k.split("/")[1]: v for k, v in trial.hyperparameters.values.items() if k.startswith("tuner/")}
        acc = trial.metrics.get_best_value("val_accuracy") if trial.metrics.exists("val_accuracy") else None
        epochs = getattr(tuner, "trial_epochs", {}).get(trial_id)
        rows.append({"trial": trial_id, "status": str(trial.status), "val_accuracy": acc,
                     "epochs": epochs, "seconds": round(tuner.trial_seconds.get(trial_id, float("nan")), 2),
                     **{f"hb_{k}": v for k, v in hb.items()}, **values})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["best_so_far"] = frame["val_accuracy"].astype(float).cummax()
    return frame
