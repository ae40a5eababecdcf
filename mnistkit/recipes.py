"""The finalists' recipes, for notebook 08's fallback and the benchmarks: what 02-07 build as Keras layers.

Notebook 08 trains any finalist whose saved model it cannot find from its recipe, so it also runs on its own;
``benchmarks/`` builds its variants from them. The notebooks write their models as layers themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .data import Splits
from .models import augmentation, build_cnn, build_mlp
from .training import Run, cosine_schedule, train

BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


@dataclass(frozen=True)
class Recipe:
    """A model and the way it is trained.

    Attributes
    ----------
    name : str
        Run name on the leaderboard.
    notebook : str
        The notebook that teaches it.
    kind : {"mlp", "cnn"}
        Which builder (``build_mlp`` / ``build_cnn``).
    model : dict
        Keyword arguments for the builder (not learning rate, augmentation or seed).
    epochs, batch_size : int
        Full-profile epochs (the quick profile caps them) and batch size.
    learning_rate : float
        Constant rate, or the peak of a cosine schedule when ``cosine`` is True.
    cosine : bool
        Cosine schedule over the whole run (``warmup_fraction`` > 0 makes it one-cycle).
    augment : dict or None
        ``augmentation(**augment)`` when given.
    patience : int or None
        Early-stopping patience; None trains every epoch (schedules decide the end).
    """

    name: str
    notebook: str
    kind: str
    model: dict = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    cosine: bool = False
    warmup_fraction: float = 0.0
    augment: dict | None = None
    patience: int | None = 5

    def schedule(self, *, train_size: int, epochs: int):
        """The learning rate: the constant, or the cosine schedule sized for ``epochs`` over ``train_size`` images."""
        if not self.cosine:
            return self.learning_rate
        return cosine_schedule(self.learning_rate, epochs=epochs, train_size=train_size, batch_size=self.batch_size,
                               warmup_fraction=self.warmup_fraction)

    def build(self, *, train_size: int, epochs: int, seed: int | None = None):
        """The compiled model, its schedule sized for ``epochs`` over ``train_size`` images."""
        lr = self.schedule(train_size=train_size, epochs=epochs)
        augment = augmentation(**self.augment, seed=seed) if self.augment else None
        return BUILDERS[self.kind](**self.model, learning_rate=lr, augment=augment, seed=seed, name=self.name)

    def train(self, data: Splits, *, epochs: int, seed: int, name: str | None = None, notebook: str | None = None,
              verbose: int = 0) -> Run:
        """Build and train with this recipe; logged under ``name`` (default ``self.name``)."""
        model = self.build(train_size=len(data.x_train), epochs=epochs, seed=seed)
        return train(model, data, name=name or self.name, notebook=notebook or self.notebook, epochs=epochs,
                     batch_size=self.batch_size, patience=self.patience, seed=seed, verbose=verbose)


BASELINE = Recipe("baseline", "02_baseline", "mlp", {"hidden": ()}, epochs=40)
# 03's winner on validation in its committed full-profile run (1024 ahead of 512-256-128 and 512-256 by a few
# tenths of a point: close enough that another shuffle order may pick another; 08 reads the winner from the log)
BEST_ARCHITECTURE = Recipe("arch-1024", "03_architectures", "mlp", {"hidden": (1024,)}, epochs=20, patience=3)
BEST_MLP = Recipe("best-mlp", "05_regularization", "mlp",
                  {"hidden": (512, 512), "dropout": 0.25, "batch_norm": True},
                  epochs=14, batch_size=512, learning_rate=3e-3, cosine=True,
                  augment={"shift": 0.08, "rotation": 0.03}, patience=None)
KERASIO_CNN = Recipe("keras-io-cnn", "07_cnn", "cnn", {"filters": (32, 64), "dropout": 0.5},
                     epochs=15, batch_size=128, patience=3)
LENET5 = Recipe("lenet5", "07_cnn", "cnn", {"filters": (6, 16), "kernel_size": 5, "pool": "avg", "dense": (120, 84)},
                epochs=15, patience=3)


def load_or_train(recipe: Recipe, data: Splits, *, path, epochs: int, seed: int, notebook: str | None = None):
    """The saved model at ``path`` if it exists, else one trained now from ``recipe``.

    Returns ``(model, how)`` where ``how`` says which (``"loaded <file>"`` or ``"trained now"``).
    """
    from pathlib import Path

    import keras

    if path is not None and Path(path).is_file():
        return keras.saving.load_model(path), f"loaded {Path(path).name}"
    run = recipe.train(data, epochs=epochs, seed=seed, notebook=notebook)
    return run.model, f"trained now (run {recipe.notebook} to use its own)"

# notebook 06 saves the tuned model; without it, notebook 08 stands in the search space's default point
TUNED_STANDIN = Recipe("tuned-mlp", "06_tuning", "mlp", {"hidden": (32,)}, epochs=30, learning_rate=5e-3, patience=4)

# notebook 07's modern CNN; why this shape: benchmarks/README.md
MODERN_CNN = Recipe("modern-cnn", "07_cnn", "cnn",
                    {"stem": 48, "filters": (96, 192, 384), "padding": "same", "batch_norm": True, "dropout": 0.1},
                    epochs=12, batch_size=256, learning_rate=4e-3, cosine=True, warmup_fraction=0.2,
                    augment={"shift": 0.08, "rotation": 0.03}, patience=None)
COMPACT_CNN = Recipe("compact-cnn", "07_cnn", "cnn",
                     {"filters": (8, 16, 16), "convs_per_block": 2, "padding": "same", "batch_norm": True,
                      "global_pool": True},
                     epochs=15, batch_size=256, learning_rate=6e-3, cosine=True, warmup_fraction=0.2,
                     augment={"shift": 0.08, "rotation": 0.03}, patience=None)
# benchmarks/time_to_accuracy.py's quick CNN (used there only)
FAST_CNN = Recipe("fast-cnn", "benchmark", "cnn",
                  {"stem": 16, "filters": (32, 64), "padding": "same", "batch_norm": True, "bn_momentum": 0.9},
                  epochs=3, batch_size=128, learning_rate=5e-3, cosine=True, warmup_fraction=0.25, patience=None)
