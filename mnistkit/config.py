"""Profiles, paths and seeds: the one place mnistkit reads its MNISTKIT_* (and Keras' cache) variables.

Profiles
--------
``full``  (default) is the real lesson: the whole training split, real epoch counts.
``workshop`` is for a day's teaching: the whole training split, a quarter of the epochs (at least 2, at most 4)
and at most 2 trials where a search's trials are counted (06 sizes its comparison by Hyperband's
epochs), one seed; 08 compares what 02-07 saved instead of training more seeds.
``quick`` is for tests: a small training subset, 1-2 epochs and at most 3 counted trials.
No profile shrinks the test set, except 09 in ``quick`` (2 000 test images for its conversions).
``make run`` runs one notebook at a time in ``full`` and up to two at a time in the others (``RUN_JOBS``).

Environment variables
---------------------
MNISTKIT_PROFILE    ``full``, ``workshop`` or ``quick``.
MNISTKIT_ARTIFACTS  artifact root; default ``<project>/artifacts/<profile>/``, where the project is the nearest
                    folder, from the working directory up, that holds ``notebooks/`` (else the working directory).
MNISTKIT_DATA       an ``mnist.npz`` or a folder with the four IDX files (raw or .gz).
MNISTKIT_CACHE      mnistkit's data cache; default ``$XDG_CACHE_HOME/mnistkit`` (``~/.cache/mnistkit``).
KERAS_HOME          Keras's own folder; its cache is ``$KERAS_HOME/datasets`` (default ``~/.keras``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("full", "workshop", "quick")
TUNERS = ("hyperband", "random", "bayesian")  # keras-tuner's tuners, for mnistkit.tuning, the search CLI


@dataclass(frozen=True)
class Profile:
    """How much work each notebook does. Use ``epochs(n)`` and ``trials(n)`` rather than raw numbers.

    Attributes
    ----------
    name : str
        ``"full"``, ``"workshop"`` or ``"quick"``.
    train_size : int or None
        Training images used after the validation split; None means all of them.
    max_epochs : int or None
        Cap on any epoch count; None means no cap.
    max_trials : int or None
        Cap on tuner trials; None means no cap.
    seeds : tuple of int
        Seeds for repeated runs (mean ± std).
    epoch_fraction : float
        Share of the full lesson's epochs (rounded up), before the cap.
    """

    name: str
    train_size: int | None
    max_epochs: int | None
    max_trials: int | None
    seeds: tuple[int, ...]
    epoch_fraction: float = 1.0

    def epochs(self, n: int) -> int:
        """The epoch count to use where the full lesson uses ``n``: never under 2 where ``n`` is 2 or more (one
        epoch draws no curve, and batch norm's statistics lag far behind after one epoch from scratch)."""
        scaled = math.ceil(n * self.epoch_fraction)
        if self.max_epochs is not None:
            scaled = min(scaled, self.max_epochs)
        return max(min(n, 2), scaled)

    def trials(self, n: int) -> int:
        """The tuner trial budget to use where the full lesson uses ``n``."""
        return n if self.max_trials is None else max(1, min(n, self.max_trials))

    def n_seeds(self, n: int) -> tuple[int, ...]:
        """The first ``n`` seeds, fewer outside the full profile."""
        return self.seeds[: max(1, n)]

    @property
    def is_quick(self) -> bool:
        return self.name == "quick"


FULL = Profile("full", train_size=None, max_epochs=None, max_trials=None, seeds=(42, 43, 44))
WORKSHOP = Profile("workshop", train_size=None, max_epochs=4, max_trials=2, seeds=(42,), epoch_fraction=0.25)
QUICK = Profile("quick", train_size=4_000, max_epochs=2, max_trials=3, seeds=(42,))
# How many notebooks ``run-notebooks`` (``make run``) runs at a time, by default: in ``full`` one, so that each
# footer is the notebook's time alone (the README's series table and doctor's predictions use them); elsewhere two,
# among the notebooks whose metadata says they read nothing of the others' (notebooks.waits_for).
RUN_JOBS = {"full": 1, "workshop": 2, "quick": 2}


def profile(name: str | None = None) -> Profile:
    """Return the active profile: ``name`` if given, else ``$MNISTKIT_PROFILE``, else ``full``."""
    name = (name or os.environ.get("MNISTKIT_PROFILE") or "full").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return {"full": FULL, "workshop": WORKSHOP, "quick": QUICK}[name]


def project_dir(start: Path | None = None) -> Path:
    """The folder the user works in: the nearest of ``start`` (default: the working directory) and its parents
    that holds a ``notebooks`` folder, else ``start`` itself. Never the folder mnistkit is installed in."""
    start = (start or Path.cwd()).resolve()
    return next((folder for folder in (start, *start.parents) if (folder / "notebooks").is_dir()), start)


def artifacts_dir(profile_name: str | None = None) -> Path:
    """Artifact root for a profile: ``$MNISTKIT_ARTIFACTS`` or ``<project>/artifacts/<profile>``."""
    name = profile(profile_name).name
    override = os.environ.get("MNISTKIT_ARTIFACTS")
    if not override:
        return project_dir() / "artifacts" / name
    folder = Path(override).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"MNISTKIT_ARTIFACTS={override} is a file, not a folder; set it to a folder (or unset it for "
                         f"{project_dir() / 'artifacts' / name})")
    return folder


def data_path() -> Path | None:
    """The user's own copy of MNIST from ``$MNISTKIT_DATA``, or None."""
    value = os.environ.get("MNISTKIT_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """mnistkit's verified data cache (``$MNISTKIT_CACHE`` or ``~/.cache/mnistkit``)."""
    if os.environ.get("MNISTKIT_CACHE"):
        return Path(os.environ["MNISTKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mnistkit"


def keras_cache_dir() -> Path:
    """Keras's dataset cache: ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets"


# What `predict` and `serve` use when no --model is given, first found first: 08's portable export, then 07/05/06's.
DEFAULT_MODELS = ("export/mnist_best.keras", "models/best_cnn.keras", "models/best_mlp.keras", "models/tuned_mlp.keras")
MODEL_HELP = f"a .keras model (default: the first found under artifacts/<profile>/ of {', '.join(DEFAULT_MODELS)})"


def default_model(profile_name: str | None = None) -> Path | None:
    """The first of ``DEFAULT_MODELS`` saved under a profile's artifacts (default: the active one's), or None."""
    root = artifacts_dir(profile_name)
    return next((root / name for name in DEFAULT_MODELS if (root / name).is_file()), None)


def no_model_message() -> str:
    """What ``predict`` and ``serve`` say when ``default_model()`` finds nothing: where they looked, what to do."""
    name = profile().name
    run = "make run" if name == "full" else f"MNISTKIT_PROFILE={name} make run"
    elsewhere = [] if os.environ.get("MNISTKIT_ARTIFACTS") else [  # (one folder named: no other profile's)
        other for other in PROFILES if other != name and default_model(other)]
    return (f"no trained model found in {artifacts_dir()}; pass --model PATH.keras, or run notebook 05, 06, 07 or 08 "
            f"in the {name} profile ({run}) to save one"
            + "".join(f", or set MNISTKIT_PROFILE={other} (its artifacts hold one)" for other in elsewhere))
