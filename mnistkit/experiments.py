"""Experiments in one call: ``train`` (fit, evaluate on validation, log), ``sweep`` (one recipe, several settings)
and the learning-rate range test, for the runs a notebook repeats after it has shown the plain ``model.fit``.
Neither reads the test set: a notebook evaluates the model it chose, once, in its own cell.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

from . import import_tensorflow_quietly

import_tensorflow_quietly()
import keras
import numpy as np
import pandas as pd

from . import config, results
from .checks import check_choice, check_images, check_name, check_positive_ints, is_int, is_real_positive
from .data import Splits, one_hot
from .models import uses_one_hot
from .training import (
    MONITORS,
    Run,
    append_run,
    batches,
    best_epoch,
    check_model_learning_rate,
    checkpoint_path,
    describe,
    save_model,
    set_seed,
    split_batches,
)


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
    check_name(name)
    check_positive_ints(epochs=epochs, batch_size=batch_size)
    if patience is not None and (not is_int(patience) or patience < 0):
        raise ValueError(f"patience={patience!r} is not valid; use a non-negative integer, "
                         "or None for no early stopping")
    check_choice("monitor", monitor, MONITORS)
    if verbose not in (0, 1):
        raise ValueError(f"verbose={verbose!r} is not valid; use 1 (one line an epoch) or 0 (silent)")


def train(model: keras.Model, data: Splits, *, name: str, notebook: str | None = None, epochs: int = 10,
          batch_size: int = 256, seed: int | None = None, patience: int | None = 5, monitor: str = "val_loss",
          callbacks=(), verbose: int = 1, log: bool = True, artifacts: str | Path | None = None,
          config_record: dict | None = None) -> Run:
    """Fit ``model`` on ``data``'s training split, evaluate it on validation, log it and return a ``Run``.

    The test set is left alone (the run's ``test_accuracy`` stays None): evaluate the model you choose, once.

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
        Samples per batch (``benchmarks/throughput.py`` measures how batch size sets the speed).
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
    check_images(data)
    check_model_learning_rate(model)
    root = Path(artifacts) if artifacts else config.artifacts_dir()
    if log:
        results.check_log(results.log_path(root))  # before fitting: a finished run is never lost to the log
    if seed is not None:
        set_seed(seed)
    checkpoint = checkpoint_path(name, notebook=notebook, artifacts=root)
    targets = (lambda y: one_hot(y)) if uses_one_hot(model) else (lambda y: y)
    cbs = [keras.callbacks.TerminateOnNaN(), BestCheckpoint(checkpoint, monitor=monitor), *callbacks]
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True))
    if verbose:
        cbs.append(EpochLine())
    start = time.perf_counter()
    train_batches, val_batches = split_batches(data, batch_size=batch_size, seed=seed, targets=targets)
    history = model.fit(train_batches, validation_data=val_batches, epochs=epochs, callbacks=cbs, shuffle=False,
                        verbose=0)  # split_batches shuffles
    seconds = time.perf_counter() - start
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    diverged = not curves.get("loss") or not math.isfinite(curves["loss"][-1])
    if diverged:
        warnings.warn(f"{name}: the loss became NaN or infinite in epoch {len(curves.get('loss', []))}; training "
                      f"stopped and the run is not logged. Try a lower learning rate.", stacklevel=2)
    val_loss, val_acc = model.evaluate(data.x_val, targets(data.y_val), batch_size=1024, verbose=0)[:2]
    best = best_epoch(curves, monitor) if patience is not None else len(curves["loss"])
    run = Run(name=name, model=model, history=curves, params=int(model.count_params()), epochs=len(curves["loss"]),
              best_epoch=best, seconds=round(seconds, 2), val_accuracy=float(val_acc), val_loss=float(val_loss),
              seed=seed, notebook=notebook, profile=config.profile().name, checkpoint=checkpoint,
              config={**describe(model, batch_size, len(data.x_train)), **(config_record or {})},
              diverged=diverged)
    if log and not diverged:
        append_run(run, root)
    return run


# ---------------------------------------------------------------------------------- sweeps
TRAIN_OPTIONS = ("epochs", "batch_size", "patience", "monitor", "callbacks")


class Sweep(dict):
    """label -> Run for one recipe trained with several settings (03-05), plus a results table."""

    def table(self) -> pd.DataFrame:
        """One row a run: size, epochs, time, training and validation accuracy at the best epoch (no test score:
        the sweep never reads the test set)."""
        rows = []
        for label, run in self.items():
            best = run.best_epoch - 1
            rows.append({"setting": label, "params": run.params, "epochs": run.epochs, "best_epoch": run.best_epoch,
                         "seconds": run.seconds, "s/epoch": round(run.seconds_per_epoch, 2),
                         "train_accuracy": round(run.history["accuracy"][best], 4),
                         "val_accuracy": round(run.val_accuracy, 4), "val_loss": round(run.val_loss, 4)})
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
    check_images(data)
    results.check_log(results.log_path(train_options.get("artifacts")))
    models = {label: build(**{k: v for k, v in opts.items() if k not in TRAIN_OPTIONS}, seed=seed)
              for label, opts in settings.items()}
    for model in models.values():
        check_model_learning_rate(model)
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
