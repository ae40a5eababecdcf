"""Seeding, the batches a fit is fed, and ``LogRun``: the Keras callback that joins a plain ``model.fit`` to the
experiment log.

The notebooks write ``model.compile(...)`` and ``model.fit(...)`` themselves (notebook 02 shows how), with
``split_batches`` for the data and ``LogRun`` in ``callbacks``: it times the fit and logs the run's validation metrics
as a ``Run``. ``mnistkit.experiments`` repeats that loop in one call for the runs a notebook repeats once it has
shown it.
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

from . import checks, config, models, results  # noqa: F401  models registers mnistkit's layers for keras.saving.load_model
from .checks import check_choice, check_keras_path, check_name, check_plain_name, check_positive_ints, is_int, is_real
from .data import Splits
from .files import atomic_write
from .idx import sha256

MONITORS = ("val_loss", "val_accuracy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow ops deterministic: on CPU the same seed
    then gives the same weights, the same shuffles and the same results."""
    import tensorflow as tf

    checks.check_seed(seed, optional=False)
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def batches(x, y, *, batch_size: int = 256, shuffle: bool = True, seed: int | None = None):
    """``(x, y)`` in batches, as a ``tf.data.Dataset`` with fixed buffers (autotuning off): what ``fit`` is given.

    The indices are shuffled (seeded, a new order each epoch), each batch is one gather, and one batch is prepared
    while the model trains. Autotuning is off because it stalls a 2-core CPU (``benchmarks/input_pipeline.py``).
    """
    import tensorflow as tf

    check_positive_ints(batch_size=batch_size)
    checks.check_seed(seed)
    checks.check_one_label_per_image(x, y)
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

    ``targets`` turns labels into what the model was compiled for (e.g. ``one_hot``); default: as they are. Call it
    again for each model you compare: a dataset that one fit has used goes on to new orders, so a second model fed
    the same dataset would see other shuffles than the first.
    """
    checks.check_images(data)
    targets = targets or (lambda y: y)
    return (batches(data.x_train, targets(data.y_train), batch_size=batch_size, seed=seed),
            batches(data.x_val, targets(data.y_val), batch_size=VALIDATION_BATCH_SIZE, shuffle=False))


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` as a ``.keras`` file atomically (a killed save leaves the old file intact)."""
    path = check_keras_path(path)
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
        return {k: getattr(self, k) for k in results.RECORD_FIELDS}

    def __repr__(self) -> str:
        test = "" if self.test_accuracy is None else f", test_accuracy={self.test_accuracy:.4f}"
        val = "none" if self.val_accuracy is None else f"{self.val_accuracy:.4f}"  # a fit without validation data
        return (f"Run({self.name!r}, params={self.params:,}, epochs={self.epochs} (best {self.best_epoch}), "
                f"{self.seconds:.1f} s, val_accuracy={val}{test})")


def checkpoint_path(name: str, *, notebook: str | None = None, artifacts: str | Path | None = None) -> Path:
    """Where run ``name`` keeps its best model: ``<artifacts>/checkpoints/<notebook>/<name>.keras`` (folder created).

    Hand it to ``keras.callbacks.ModelCheckpoint``; notebook 08 finds the models there."""
    check_name(name)
    notebook = "adhoc" if notebook is None else check_plain_name("notebook", notebook)  # one folder, in artifacts
    path = Path(artifacts or config.artifacts_dir()) / "checkpoints" / notebook / f"{name}.keras"
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
        check_name(name)
        checks.check_seed(seed)
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
        epochs = self.params.get("epochs")
        if not is_int(epochs) or epochs < 1:
            raise ValueError(f"epochs={epochs!r} is not valid; give model.fit a positive integer")
        results.check_log(results.log_path(self.root))
        check_model_learning_rate(self.model)
        self._warn_if_not_fresh()
        self.curves: dict[str, list[float]] = {}  # each metric's value at the end of every epoch so far
        self.diverged, self._start, self._started_at = False, time.perf_counter(), time.time()

    def _warn_if_not_fresh(self):
        """Warn when this fit goes on from earlier training, or will overwrite another model's checkpoint."""
        if steps := int(self.model.optimizer.iterations) if self.model.optimizer else 0:
            warnings.warn(f"{self.name}: this model was trained before ({steps} optimizer steps), so the run logs "
                          f"how it goes on from there; for a fresh run, first rerun the cell that builds the model",
                          stacklevel=3)
        if not self.checkpoint.exists():  # nothing to replace: no need to read the log
            return
        same_file = [r.get("config") or {} for r in results.read_records(results.log_path(self.root))
                     if r.get("checkpoint") and Path(r["checkpoint"]).resolve() == self.checkpoint.resolve()]
        if same_file and same_file[-1].get("fingerprint") != fingerprint(self.model, self.batch_size):
            warnings.warn(f"{self.name}: another recipe (layers, optimizer or batch size) was logged as {self.name!r} "
                          f"before; a checkpoint of this run replaces that run's model in {self.checkpoint}. Give this "
                          f"run a name of its own to keep both", stacklevel=3)

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
        kept = (best_epoch(curves, self.monitor) if self.monitor and self.monitor in curves
                else len(curves["loss"]))
        at = lambda key: curves[key][kept - 1] if key in curves else None  # noqa: E731
        self.run = Run(name=self.name, model=self.model, history=curves, params=int(self.model.count_params()),
                       epochs=len(curves["loss"]), best_epoch=kept, seconds=seconds,
                       val_accuracy=at("val_accuracy"), val_loss=at("val_loss"), seed=self.seed,
                       notebook=self.notebook, profile=config.profile().name,
                       checkpoint=self.checkpoint if self.checkpoint.exists()
                       and self.checkpoint.stat().st_mtime >= self._started_at else None,  # saved by this run
                       config={**describe(self.model, self.batch_size, None), **self.extra},
                       diverged=self.diverged)
        if self.diverged:
            return
        append_run(self.run, self.root)
        if self.verbose:
            shown = "" if self.run.val_accuracy is None else f": val_accuracy {self.run.val_accuracy:.4f}"
            epochs = f"{self.run.epochs} epoch" + "s" * (self.run.epochs != 1)
            print(f"logged {self.name!r}: {epochs} in {seconds:.1f} s, kept epoch {kept}{shown}", flush=True)

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
            append_run(self.run, self.root)
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


LR_SANE = (1e-6, 1.0)  # learning rates outside this range train, with a warning


def check_model_learning_rate(model: keras.Model) -> None:
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


def append_run(run: Run, root: Path) -> None:
    """Log ``run``; if the log fails after training, a LogError that names the checkpoint and carries ``.run``."""
    try:
        results.append_record(run.record(), path=results.log_path(root))
    except OSError as exc:
        saved = (f"; the trained model's best epoch is saved in {run.checkpoint}"
                 if run.checkpoint and Path(run.checkpoint).exists() else "")
        error = results.LogError(f"could not log {run.name!r} to {results.log_path(root)}: {exc.strerror}{saved}")
        error.run = run  # the trained model, for whoever catches this
        raise error from exc


def best_epoch(curves: dict, monitor: str) -> int:
    values = np.asarray(curves[monitor])
    return int(np.argmax(values) if monitor.endswith("accuracy") else np.argmin(values)) + 1


def describe(model: keras.Model, batch_size: int, train_size: int) -> dict:
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
