"""Seeding, the batches a fit is fed (``batches``), the callbacks that join a plain ``model.fit`` to the experiment
log (``LogRun``), and ``train``/``sweep`` for the runs a notebook repeats after it has shown the plain loop.

The notebooks write ``model.compile(...)`` and ``model.fit(...)`` themselves (notebook 02 shows how); ``LogRun`` times
the fit and logs the run's validation metrics. ``train`` does the same fit in one call and also evaluates once on the
test set: ``sweep`` uses it, and so do the benchmarks.
"""
from __future__ import annotations

import json
import math
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras
import numpy as np
import pandas as pd

from . import config, results
from .checks import check_choice, check_positive_ints, is_int, is_real, is_real_positive
from .data import Splits, one_hot, sha256
from .files import atomic_write
from .models import uses_one_hot

MONITORS = ("val_loss", "val_accuracy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow ops deterministic: on CPU the same seed
    then gives the same weights, the same shuffles and the same results."""
    import tensorflow as tf

    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} is not valid; use a non-negative integer such as 42")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def batches(x, y, *, batch_size: int = 256, shuffle: bool = True, seed: int | None = None):
    """``(x, y)`` in batches, as a ``tf.data.Dataset`` with fixed buffers (autotuning off): what ``fit`` is given.

    The indices are shuffled (seeded, a new order each epoch), each batch is one gather, and one batch is prepared
    while the model trains. Autotuning is off because it stalls a 2-core CPU (``benchmarks/input_pipeline.py``).
    """
    import tensorflow as tf

    check_positive_ints(batch_size=batch_size)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)}); give one label per image")
    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False

    @tf.autograph.experimental.do_not_convert  # plain TensorFlow ops; nothing for AutoGraph to rewrite
    def gather(indices):
        return tf.gather(images, indices), tf.gather(labels, indices)

    return order.batch(batch_size).map(gather).prefetch(1).with_options(options)


VALIDATION_BATCH_SIZE = 1024  # validation only predicts: big batches, no optimizer steps to trade off


def split_batches(data: Splits, *, batch_size: int, seed: int | None = None, targets=None):
    """What ``fit`` gets: the training split as shuffled ``batches`` and the validation split in order.

    ``targets`` turns labels into what the model was compiled for (e.g. ``one_hot``); default: as they are.
    """
    targets = targets or (lambda y: y)
    return (batches(data.x_train, targets(data.y_train), batch_size=batch_size, seed=seed),
            batches(data.x_val, targets(data.y_val), batch_size=VALIDATION_BATCH_SIZE, shuffle=False))


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` as a ``.keras`` file atomically (a killed save leaves the old file intact)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: model files must end in .keras")
    return atomic_write(path, lambda tmp: model.save(tmp))


@dataclass(repr=False, eq=False)
class Run:
    """One training run: the trained model (best weights), its curves, metrics, size, time and files."""

    name: str
    model: keras.Model
    history: dict
    params: int
    epochs: int
    best_epoch: int
    seconds: float
    val_accuracy: float
    val_loss: float
    test_accuracy: float | None = None  # None until the final evaluation: runs logged by LogRun have none
    test_loss: float | None = None
    seed: int | None = None
    notebook: str | None = None
    profile: str = "full"
    checkpoint: Path | None = None
    config: dict = field(default_factory=dict)
    diverged: bool = False  # the loss became NaN or infinite: training stopped and the run was not logged
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # a later record of the same run replaces it

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)

    def record(self) -> dict:
        """The experiment-log record of this run."""
        keys = ("notebook", "name", "params", "epochs", "best_epoch", "seconds", "val_accuracy", "val_loss",
                "test_accuracy", "test_loss", "seed", "profile", "checkpoint", "config", "run_id")
        return {k: getattr(self, k) for k in keys}

    def __repr__(self) -> str:
        test = "" if self.test_accuracy is None else f", test_accuracy={self.test_accuracy:.4f}"
        return (f"Run({self.name!r}, params={self.params:,}, epochs={self.epochs} (best {self.best_epoch}), "
                f"{self.seconds:.1f} s, val_accuracy={self.val_accuracy:.4f}{test})")


class EpochLine(keras.callbacks.Callback):
    """Print one line an epoch: metrics and seconds."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        shown = " ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        total = self.params.get("epochs", "?")
        print(f"epoch {epoch + 1:>3}/{total}  {shown}  {time.perf_counter() - self._start:.1f} s", flush=True)


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model to ``path`` (atomically) each time ``monitor`` improves."""

    def __init__(self, path: Path, *, monitor: str = "val_loss"):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        score = -value if self.monitor.endswith("accuracy") else value
        if score < self.best:
            self.best = score
            save_model(self.model, self.path)


def checkpoint_path(name: str, *, notebook: str | None = None, artifacts: str | Path | None = None) -> Path:
    """Where run ``name`` keeps its best model: ``<artifacts>/checkpoints/<notebook>/<name>.keras`` (folder created).

    Hand it to ``keras.callbacks.ModelCheckpoint``; notebook 08 finds the models there."""
    _check_name(name)
    path = Path(artifacts or config.artifacts_dir()) / "checkpoints" / (notebook or "adhoc") / f"{name}.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class LogRun(keras.callbacks.Callback):
    """Join a plain ``model.fit`` to the experiment log: time the fit, then log it as one run (``.run`` afterwards).

    Before the first epoch it checks that the log can be written and that a constant learning rate is a sane
    number, so a finished fit is never lost to a bad log or a typo. An epoch whose loss is NaN or infinite stops
    the fit with a warning, and such a run is not logged. When the fit ends it records the epoch whose weights the
    model kept: the best ``monitor`` epoch (match your ``EarlyStopping(monitor=..., restore_best_weights=True)``),
    or the last one with ``monitor=None`` (no early stopping). Validation metrics only: the test set is for the
    final evaluation.

    Parameters
    ----------
    name : str
        The run's label on the leaderboard (``"baseline"``).
    notebook : str, optional
        Which notebook logged it; with ``name`` it also names the run's ``checkpoint`` path.
    seed : int, optional
        Recorded with the run (08 matches seeds on it).
    batch_size : int, optional
        Recorded, and part of the run's ``fingerprint``.
    monitor : {"val_loss", "val_accuracy"} or None, default="val_loss"
    hyperparameters : dict, optional
        Extra settings to store with the run (shown on the leaderboard with ``details=True``).
    verbose : {1, 0}, default=1
        1 prints one line when the fit ends: what was logged.
    artifacts : str or Path, optional
        Artifact root (default: the active profile's).
    """

    def __init__(self, name: str, *, notebook: str | None = None, seed: int | None = None,
                 batch_size: int | None = None, monitor: str | None = "val_loss", hyperparameters: dict | None = None,
                 verbose: int = 1, artifacts: str | Path | None = None):
        super().__init__()
        _check_name(name)
        if monitor is not None:
            check_choice("monitor", monitor, MONITORS)
        if batch_size is not None:
            check_positive_ints(batch_size=batch_size)
        if verbose not in (0, 1):
            raise ValueError(f"verbose={verbose!r} is not valid; use 1 (one line when the fit ends) or 0 (silent)")
        self.name, self.notebook, self.seed, self.batch_size = name, notebook, seed, batch_size
        self.monitor, self.extra, self.verbose = monitor, dict(hyperparameters or {}), verbose
        self.root = Path(artifacts) if artifacts else config.artifacts_dir()
        self.checkpoint = checkpoint_path(name, notebook=notebook, artifacts=self.root)
        self.run: Run | None = None

    def on_train_begin(self, logs=None):
        results.check_log(results.log_path(self.root))
        check_learning_rate(self.model)
        self.curves: dict[str, list[float]] = {}
        self.diverged = False
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                self.curves.setdefault(key, []).append(float(value))
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged = self.model.stop_training = True
            warnings.warn(f"{self.name}: the loss became NaN or infinite in epoch {epoch + 1}; training stopped and "
                          f"the run is not logged. Try a lower learning rate.", stacklevel=2)

    def on_train_end(self, logs=None):
        seconds = round(time.perf_counter() - self._start, 2)
        if not self.curves.get("loss"):
            return
        curves = self.curves
        kept = (_best_epoch(curves, self.monitor) if self.monitor and self.monitor in curves
                else len(curves["loss"]))
        at = lambda key: curves[key][kept - 1] if key in curves else None  # noqa: E731
        self.run = Run(name=self.name, model=self.model, history=curves, params=int(self.model.count_params()),
                       epochs=len(curves["loss"]), best_epoch=kept, seconds=seconds,
                       val_accuracy=at("val_accuracy"), val_loss=at("val_loss"), seed=self.seed,
                       notebook=self.notebook, profile=config.profile().name,
                       checkpoint=self.checkpoint if self.checkpoint.exists() else None,
                       config={**_describe(self.model, self.batch_size, None), **self.extra},
                       diverged=self.diverged)
        if self.diverged:
            return
        _append(self.run, self.root)
        if self.verbose:
            shown = "" if self.run.val_accuracy is None else f": val_accuracy {self.run.val_accuracy:.4f}"
            print(f"logged {self.name!r}: {self.run.epochs} epochs in {seconds:.1f} s, kept epoch {kept}{shown}",
                  flush=True)

    def add_test(self, test_loss: float, test_accuracy: float) -> Run:
        """Record the final test evaluation with the run: its log record is written again, now with the test scores
        (the leaderboard and notebook 08 read the latest record of each run). Call it once, for a model you keep."""
        if self.run is None:
            raise ValueError("there is no run to add a test score to yet: fit with this LogRun in callbacks first")
        for label, value in (("test_loss", test_loss), ("test_accuracy", test_accuracy)):
            if not is_real(value) or not math.isfinite(value) or value < 0 or (label == "test_accuracy" and value > 1):
                raise ValueError(f"{label}={value!r} is not valid; pass what model.evaluate(x_test, y_test) returned")
        self.run.test_loss, self.run.test_accuracy = float(test_loss), float(test_accuracy)
        if not self.run.diverged:
            _append(self.run, self.root)
        return self.run


def reseeded_copy(model: keras.Model, *, seed: int) -> keras.Model:
    """The same layers as ``model`` with fresh weights drawn from ``seed``, compiled as ``model`` was.

    For another seed of a saved model (notebook 08): ``keras.models.clone_model`` rebuilds the architecture, a layer
    that was given a seed of its own (the augmentation) gets ``seed`` instead, and the optimizer (its learning-rate
    schedule included) comes back fresh from the model's saved compile settings. With the same seed it draws the
    same weights as a model built from the same layers after ``set_seed(seed)``.
    """
    set_seed(seed)

    def reseed(layer):
        config = layer.get_config()
        if is_int(config.get("seed")):
            config["seed"] = int(seed)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=reseed)
    compiled = model.get_compile_config() if getattr(model, "compiled", False) else None
    if not compiled:
        raise ValueError(f"model {model.name!r} was never compiled; compile it (or load it with compile=True) first")
    copy.compile_from_config(compiled)
    return copy


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.strip() or "/" in name or name.strip() in (".", ".."):
        raise ValueError(f"name={name!r} is not valid; use a short label such as 'mlp-128' (no '/')")


def _check_train_args(name, epochs, batch_size, patience, monitor, verbose) -> None:
    _check_name(name)
    check_positive_ints(epochs=epochs, batch_size=batch_size)
    if patience is not None and (not is_int(patience) or patience < 0):
        raise ValueError(f"patience={patience!r} is not valid; use a non-negative integer, "
                         "or None for no early stopping")
    check_choice("monitor", monitor, MONITORS)
    if verbose not in (0, 1):
        raise ValueError(f"verbose={verbose!r} is not valid; use 1 (one line an epoch) or 0 (silent)")


LR_SANE = (1e-6, 1.0)  # learning rates outside this range train, with a warning


def check_learning_rate(model: keras.Model) -> None:
    """ValueError for a constant learning rate that is not a finite number > 0; a warning outside ``LR_SANE``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or isinstance(optimizer.learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return
    try:
        lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):
        return
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate={lr!r} is not valid; use a finite number > 0 such as 1e-3")
    if not LR_SANE[0] <= lr <= LR_SANE[1]:
        warnings.warn(f"learning_rate={lr:g} is outside {LR_SANE[0]:g}-{LR_SANE[1]:g}, where these models train; "
                      f"expect {'no progress' if lr < LR_SANE[0] else 'divergence'}", stacklevel=3)


def check_finite(data: Splits) -> None:
    """ValueError if a training or validation image holds NaN or infinity (it would poison every weight)."""
    for label, x in (("x_train", data.x_train), ("x_val", data.x_val)):
        if np.issubdtype(np.asarray(x).dtype, np.floating) and not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
            raise ValueError(f"{label} has {bad} image(s) with NaN or infinite pixels; fix or drop them first")


def train(model: keras.Model, data: Splits, *, name: str, notebook: str | None = None, epochs: int = 10,
          batch_size: int = 256, seed: int | None = None, patience: int | None = 5, monitor: str = "val_loss",
          callbacks=(), verbose: int = 1, log: bool = True, artifacts: str | Path | None = None,
          config_record: dict | None = None) -> Run:
    """Fit ``model`` on ``data``'s training split, evaluate it, log it and return a ``Run``.

    Parameters
    ----------
    model : keras.Model
        A compiled model (``mnistkit.models``); one-hot labels are made if it was compiled for them.
    data : mnistkit.data.Splits
    name : str
        The run's label on the leaderboard.
    notebook : str, optional
        Which notebook logged it (``"02_baseline"``).
    epochs : int, default=10
        Upper bound; early stopping may end sooner.
    batch_size : int, default=256
        256-512 trains faster than 128 on a 2-core CPU at the same accuracy for these models.
    seed : int, optional
        Reseeds (``set_seed``) before fitting, so shuffles and dropout repeat.
    patience : int or None, default=5
        Early-stopping patience on ``monitor``; the best epoch's weights are restored. None: no early stop.
    monitor : {"val_loss", "val_accuracy"}, default="val_loss"
    callbacks : sequence of keras callbacks, optional
        Extra callbacks (e.g. a learning-rate schedule).
    verbose : {1, 0}, default=1
        1 prints one line an epoch.
    log : bool, default=True
        Append the run to the experiment log (``mnistkit.results``).
    artifacts : str or Path, optional
        Artifact root (default: the active profile's); the checkpoint goes to ``checkpoints/``.
    config_record : dict, optional
        Hyperparameters to store with the run (shown on the leaderboard).
    """
    _check_train_args(name, epochs, batch_size, patience, monitor, verbose)
    check_finite(data)
    check_learning_rate(model)
    root = Path(artifacts) if artifacts else config.artifacts_dir()
    if log:
        results.check_log(results.log_path(root))  # before fitting: a finished run is never lost to the log
    if seed is not None:
        set_seed(seed)
    checkpoint = root / "checkpoints" / (notebook or "adhoc") / f"{name}.keras"
    targets = (lambda y: one_hot(y)) if uses_one_hot(model) else (lambda y: y)
    cbs = [keras.callbacks.TerminateOnNaN(), BestCheckpoint(checkpoint, monitor=monitor), *callbacks]
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True))
    if verbose:
        cbs.append(EpochLine())
    start = time.perf_counter()
    train_batches, val_batches = split_batches(data, batch_size=batch_size, seed=seed, targets=targets)
    history = model.fit(train_batches, validation_data=val_batches, epochs=epochs, callbacks=cbs, shuffle=False,
                        verbose=0)  # batches() shuffles
    seconds = time.perf_counter() - start
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    diverged = not curves.get("loss") or not math.isfinite(curves["loss"][-1])
    if diverged:
        warnings.warn(f"{name}: the loss became NaN or infinite in epoch {len(curves.get('loss', []))}; training "
                      f"stopped and the run is not logged. Try a lower learning rate.", stacklevel=2)
    val_loss, val_acc = model.evaluate(data.x_val, targets(data.y_val), batch_size=1024, verbose=0)[:2]
    test_loss, test_acc = model.evaluate(data.x_test, targets(data.y_test), batch_size=1024, verbose=0)[:2]
    best = _best_epoch(curves, monitor) if patience is not None else len(curves["loss"])
    run = Run(name=name, model=model, history=curves, params=int(model.count_params()), epochs=len(curves["loss"]),
              best_epoch=best, seconds=round(seconds, 2), val_accuracy=float(val_acc), val_loss=float(val_loss),
              test_accuracy=float(test_acc), test_loss=float(test_loss), seed=seed, notebook=notebook,
              profile=config.profile().name, checkpoint=checkpoint,
              config={**_describe(model, batch_size, len(data.x_train)), **(config_record or {})},
              diverged=diverged)
    if log and not diverged:
        _append(run, root)
    return run


def _append(run: Run, root: Path) -> None:
    """Log ``run``; if the log fails after training, a LogError that names the checkpoint and carries ``.run``."""
    try:
        results.append_record(run.record(), path=results.log_path(root))
    except OSError as exc:
        saved = (f"; the trained model's best epoch is saved in {run.checkpoint}"
                 if run.checkpoint and Path(run.checkpoint).exists() else "")
        error = results.LogError(f"could not log {run.name!r} to {results.log_path(root)}: {exc.strerror}{saved}")
        error.run = run  # the trained model, for whoever catches this
        raise error from exc


def _best_epoch(curves: dict, monitor: str) -> int:
    values = np.asarray(curves[monitor])
    return int(np.argmax(values) if monitor.endswith("accuracy") else np.argmin(values)) + 1


def _describe(model: keras.Model, batch_size: int, train_size: int) -> dict:
    """What the log should know about how a model was trained."""
    opt = model.optimizer
    try:
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
    except (TypeError, ValueError):
        lr = type(opt.learning_rate).__name__
    return {"optimizer": type(opt).__name__.lower(), "learning_rate": lr, "batch_size": batch_size,
            "train_size": train_size, "model": model.name, "fingerprint": fingerprint(model, batch_size)}


def fingerprint(model: keras.Model, batch_size: int) -> str:
    """A short hash of how a model is built and trained: its layers' configuration, its optimizer's (learning-rate
    schedule included) and the batch size; seeds, names (Keras numbers a layer's automatic name by how many were made
    before it) and the shapes recorded once a layer is built are left out. The same recipe gives the same fingerprint
    with any seed, in any order, and after saving and loading; a changed layer, augmentation or schedule gives another
    (08 matches seeds on it).
    """
    def essentials(value):
        if isinstance(value, dict):
            return {k: essentials(v) for k, v in value.items() if k not in ("seed", "build_config", "name")}
        if isinstance(value, (list, tuple)):
            return [essentials(v) for v in value]
        return value

    optimizer = model.optimizer.get_config() if model.optimizer else None
    text = json.dumps(essentials({"model": model.get_config(), "optimizer": optimizer, "batch_size": batch_size}),
                      sort_keys=True, default=repr)
    return sha256(text.encode())[:16]


# ---------------------------------------------------------------------------------- sweeps
TRAIN_OPTIONS = ("epochs", "batch_size", "patience", "monitor", "callbacks")


class Sweep(dict):
    """label -> Run for one recipe trained with several settings (03-05), plus a results table."""

    def table(self, *, test: bool = False) -> pd.DataFrame:
        """One row a run: size, epochs, time, training and validation accuracy at the best epoch.

        ``test=True`` adds test accuracy; leave it off while choosing, and report only the winner's."""
        rows = []
        for label, run in self.items():
            best = run.best_epoch - 1
            rows.append({"setting": label, "params": run.params, "epochs": run.epochs, "best_epoch": run.best_epoch,
                         "seconds": run.seconds, "s/epoch": round(run.seconds_per_epoch, 2),
                         "train_accuracy": round(run.history["accuracy"][best], 4),
                         "val_accuracy": round(run.val_accuracy, 4), "val_loss": round(run.val_loss, 4),
                         **({"test_accuracy": round(run.test_accuracy, 4)} if test else {})})
        return pd.DataFrame(rows).set_index("setting")

    def best(self) -> Run:
        """The run with the highest validation accuracy (never chosen on the test set)."""
        return max(self.values(), key=lambda run: run.val_accuracy)

    def __repr__(self) -> str:
        best = self.best() if self else None
        best_part = f", best {best.name!r} val_accuracy={best.val_accuracy:.4f}" if best else ""
        return f"Sweep({len(self)} runs{best_part})"


def sweep(build, data: Splits, settings: dict, *, name: str, notebook: str | None = None, seed: int | None = None,
          progress: bool = True, **train_options) -> Sweep:
    """Train the recipe ``build`` once per setting and log every run.

    Parameters
    ----------
    build : callable
        A builder such as ``mnistkit.models.build_mlp``; called with a setting's model options and ``seed``.
    data : Splits
    settings : dict of label -> dict
        Options per run. ``epochs``, ``batch_size``, ``patience``, ``monitor`` and ``callbacks`` go to
        ``train``; everything else to ``build``. Every model is built (and so every option checked)
        before the first one trains.
    name : str
        Prefix of the runs' names: run ``label`` is logged as ``f"{name}-{label}"``.
    progress : bool, default=True
        Print one line as each run ends.
    **train_options
        Defaults for ``train`` shared by every run (``epochs=20``, ``batch_size=256``…).
    """
    if not isinstance(settings, dict) or not settings or not all(isinstance(v, dict) for v in settings.values()):
        raise ValueError("settings must be a non-empty dict of label -> dict of options, "
                         "e.g. {'64': {'hidden': (64,)}}")
    import inspect

    parameters = inspect.signature(train).parameters
    defaults = {k: parameters[k].default for k in ("epochs", "batch_size", "patience", "monitor")}
    allowed = [k for k in parameters if k not in ("model", "data", "name", "notebook", "seed", "verbose",
                                                   "config_record")]
    unknown = sorted(set(train_options) - set(allowed))
    if unknown:
        raise ValueError(f"sweep cannot pass {unknown} to train; valid: {', '.join(allowed)}")
    for label, opts in settings.items():  # every setting checked before the first fit
        fit = {**defaults, **train_options, **{k: v for k, v in opts.items() if k in TRAIN_OPTIONS}}
        _check_train_args(f"{name}-{label}", fit["epochs"], fit["batch_size"], fit["patience"], fit["monitor"], 0)
    check_finite(data)
    results.check_log(results.log_path(train_options.get("artifacts")))
    models = {label: build(**{k: v for k, v in opts.items() if k not in TRAIN_OPTIONS}, seed=seed)
              for label, opts in settings.items()}
    for model in models.values():
        check_learning_rate(model)
    runs = Sweep()
    for label, opts in settings.items():
        fit = {**train_options, **{k: v for k, v in opts.items() if k in TRAIN_OPTIONS}}
        described = {k: (v if isinstance(v, (int, float, str, bool, tuple, list, type(None))) else _label(v))
                      for k, v in opts.items() if k != "callbacks"}
        runs[label] = train(models.pop(label), data, name=f"{name}-{label}", notebook=notebook, seed=seed,
                            verbose=0, config_record=described, **fit)
        if progress:
            r = runs[label]
            print(f"{r.name:<34} val_accuracy {r.val_accuracy:.4f}  {r.epochs:>3} epochs  {r.seconds:6.1f} s",
                  flush=True)
    return runs


def _label(value) -> str:
    """How a setting that is an object (an optimizer, a layer) is recorded: its class and its plain settings."""
    if isinstance(value, keras.optimizers.Optimizer):
        lr = value.learning_rate
        shown = f"{float(keras.ops.convert_to_numpy(lr)):g}" if not callable(lr) else type(lr).__name__
        extra = "".join(f", {k}={v}" for k, v in (("momentum", getattr(value, "momentum", 0)),) if v)
        return f"{type(value).__name__}(learning_rate={shown}{extra})"
    return type(value).__name__ if hasattr(value, "get_config") else repr(value)


# ---------------------------------------------------------------------------------- LR range test
class _LRRamp(keras.callbacks.Callback):
    """Raise the learning rate exponentially each batch; record each batch's own loss; stop on divergence."""

    def __init__(self, rates, *, stop_factor: float):
        super().__init__()
        self.rates, self.stop_factor = rates, stop_factor
        self.losses, self.smoothed, self._mean, self._avg = [], [], 0.0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = float(self.rates[batch])

    def on_train_batch_end(self, batch, logs=None):
        running = float(logs["loss"])  # Keras reports the mean over the epoch so far
        loss = (batch + 1) * running - batch * self._mean
        self._mean = running
        self._avg = 0.9 * self._avg + 0.1 * loss
        self.losses.append(loss)
        self.smoothed.append(self._avg / (1 - 0.9 ** (batch + 1)))
        if not math.isfinite(loss) or self.smoothed[-1] > self.stop_factor * min(self.smoothed):
            self.model.stop_training = True


def lr_range_test(model: keras.Model, data: Splits, *, min_lr: float = 1e-6, max_lr: float = 3.0, steps: int = 150,
                  batch_size: int = 256, stop_factor: float = 4.0, seed: int | None = None) -> pd.DataFrame:
    """Leslie Smith's learning-rate range test: one pass with the rate rising from ``min_lr`` to ``max_lr``.

    The model's weights change: use a fresh model for real training. Returns a DataFrame with ``lr``,
    ``loss`` (per batch) and ``smoothed``; ``.attrs["suggested_lr"]`` is a tenth of the rate at the
    lowest smoothed loss, a common safe choice.
    """
    if not (is_real_positive(min_lr) and is_real_positive(max_lr) and min_lr < max_lr):
        raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}")
    if not is_int(steps) or steps < 10:
        raise ValueError(f"steps={steps!r} is not valid; use an integer >= 10")
    if seed is not None:
        set_seed(seed)
    rates = np.geomspace(min_lr, max_lr, steps)
    n = min(len(data.x_train), steps * batch_size)
    targets = one_hot(data.y_train[:n]) if uses_one_hot(model) else data.y_train[:n]
    ramp = _LRRamp(rates, stop_factor=stop_factor)
    ramp_batches = batches(data.x_train[:n], targets, batch_size=batch_size, shuffle=False)
    if n < steps * batch_size:  # a small training split is passed over again, so the ramp reaches max_lr
        ramp_batches = ramp_batches.repeat()
    model.fit(ramp_batches, epochs=1, steps_per_epoch=steps, shuffle=False, callbacks=[ramp], verbose=0)
    frame = pd.DataFrame({"lr": rates[:len(ramp.losses)], "loss": ramp.losses, "smoothed": ramp.smoothed})
    frame.attrs["suggested_lr"] = float(frame["lr"][frame["smoothed"].idxmin()] / 10)
    return frame


def cosine_schedule(peak_lr: float, *, epochs: int, train_size: int, batch_size: int,
                    warmup_fraction: float = 0.0) -> keras.optimizers.schedules.LearningRateSchedule:
    """A cosine learning-rate schedule over a whole training run (05, 07), stepped once per batch.

    With ``warmup_fraction > 0`` the rate first climbs linearly from ``peak_lr / 25`` to ``peak_lr`` over that
    share of the steps, then anneals to ~0: the shape of a one-cycle schedule.
    """
    if not is_real_positive(peak_lr):
        raise ValueError(f"peak_lr={peak_lr!r} is not valid; use a number > 0 such as 3e-3")
    check_positive_ints(epochs=epochs, train_size=train_size, batch_size=batch_size)
    if not isinstance(warmup_fraction, (int, float)) or not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction={warmup_fraction!r} is not valid; use a number in [0, 1)")
    steps = epochs * -(-train_size // batch_size)
    warmup = int(steps * warmup_fraction)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=steps)
    return keras.optimizers.schedules.CosineDecay(peak_lr / 25, decay_steps=steps - warmup,
                                                  warmup_target=peak_lr, warmup_steps=warmup)
