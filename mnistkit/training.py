"""Seeding and the one ``train(...)`` every notebook uses (taught in notebook 02).

``train`` fits on the training split while watching the validation split, stops early and restores
the best weights, keeps the best model in a ``.keras`` checkpoint under the artifact root, times the
fit, evaluates once on the test set, logs a record to the experiment log and returns a ``Run``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np

from . import config, results
from .data import Splits, one_hot
from .files import atomic_write
from .models import _is_int, check_choice, uses_one_hot

MONITORS = ("val_loss", "val_accuracy")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow ops deterministic: on CPU the same seed
    then gives the same weights, the same shuffles and the same results."""
    import tensorflow as tf

    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} is not valid; use a non-negative integer such as 42")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


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
    test_accuracy: float
    test_loss: float
    seed: int | None = None
    notebook: str | None = None
    profile: str = "full"
    checkpoint: Path | None = None
    config: dict = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)

    def record(self) -> dict:
        """The experiment-log record of this run."""
        keys = ("notebook", "name", "params", "epochs", "best_epoch", "seconds", "val_accuracy", "val_loss",
                "test_accuracy", "test_loss", "seed", "profile", "checkpoint", "config")
        return {k: getattr(self, k) for k in keys}

    def __repr__(self) -> str:
        return (f"Run({self.name!r}, params={self.params:,}, epochs={self.epochs} (best {self.best_epoch}), "
                f"{self.seconds:.1f} s, val_accuracy={self.val_accuracy:.4f}, "
                f"test_accuracy={self.test_accuracy:.4f})")


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


def _check_train_args(name, epochs, batch_size, patience, monitor, verbose) -> None:
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ValueError(f"name={name!r} is not valid; use a short label such as 'mlp-128' (no '/')")
    for label, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{label}={value!r} is not valid; use a positive integer")
    if patience is not None and (not _is_int(patience) or patience < 0):
        raise ValueError(f"patience={patience!r} is not valid; use a non-negative integer, or None for no early stopping")
    check_choice("monitor", monitor, MONITORS)
    if verbose not in (0, 1):
        raise ValueError(f"verbose={verbose!r} is not valid; use 1 (one line an epoch) or 0 (silent)")


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
    if seed is not None:
        set_seed(seed)
    root = Path(artifacts) if artifacts else config.artifacts_dir()
    checkpoint = root / "checkpoints" / (notebook or "adhoc") / f"{name}.keras"
    targets = (lambda y: one_hot(y)) if uses_one_hot(model) else (lambda y: y)
    cbs = [BestCheckpoint(checkpoint, monitor=monitor), *callbacks]
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True))
    if verbose:
        cbs.append(EpochLine())
    start = time.perf_counter()
    history = model.fit(data.x_train, targets(data.y_train), validation_data=(data.x_val, targets(data.y_val)),
                        epochs=epochs, batch_size=batch_size, callbacks=cbs, verbose=0)
    seconds = time.perf_counter() - start
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    val_loss, val_acc = model.evaluate(data.x_val, targets(data.y_val), batch_size=1024, verbose=0)[:2]
    test_loss, test_acc = model.evaluate(data.x_test, targets(data.y_test), batch_size=1024, verbose=0)[:2]
    best = _best_epoch(curves, monitor) if patience is not None else len(curves["loss"])
    run = Run(name=name, model=model, history=curves, params=int(model.count_params()), epochs=len(curves["loss"]),
              best_epoch=best, seconds=round(seconds, 2), val_accuracy=float(val_acc), val_loss=float(val_loss),
              test_accuracy=float(test_acc), test_loss=float(test_loss), seed=seed, notebook=notebook,
              profile=config.profile().name, checkpoint=checkpoint,
              config={**_describe(model, batch_size, len(data.x_train)), **(config_record or {})})
    if log:
        results.append_record(run.record(), path=results.log_path(root))
    return run


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
            "train_size": train_size, "model": model.name}
