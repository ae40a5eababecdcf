"""What moves the accuracy of notebook 07's modern CNN: its recipe and one-change variants, side by side in one run.

Every variant is ``common.MODERN_CNN`` with one thing changed, trained with the same seed, split and
number of epochs through ``mnistkit.experiments.train`` (final-epoch weights, as in 07):

- the recipe as it is; from the same run, its weights averaged over the steps (an exponential moving average,
  momentum 0.99 and 0.998, kept by a callback; for every variant) and test-time augmentation (the final model's
  class probabilities averaged over the image and its copies shifted by one pixel);
- the same shifts and rotations made by Keras' ``RandomRotation`` then ``RandomTranslation`` layers, which
  interpolate every digit twice, where ``mnistkit.models.augmentation`` moves it with one affine transform
  (mnistkit's augmentation until it was replaced by the one transform);
- zoom (+-10 %) added between Keras' rotation and shift (compare it with the row above);
- elastic distortions (Simard et al. 2003: a random displacement field smoothed by a Gaussian of sigma 4 pixels,
  scaled by alpha) added to the recipe's shifts and rotations, the digit still resampled once, alpha 20 and 34;
- a narrower net: two thirds of the width (stem 32, 64-128-256 filters: 07's recipe until the wider one was
  adopted); a shallower one: that narrower net without its third block (64-128, 07's recipe before the third
  block); a deeper one: two convolutions in the second block;
- 2x2 pooling that pads odd-sized maps ("same") instead of dropping their last row and column: 7x7 pools to 4x4
  and 4x4 to 2x2, where the recipe pools 7x7 to 3x3 and 3x3 to 1x1 (which reads 4 of the 9 positions);
- label smoothing 0.1;
- AdamW with weight decay 0.05 instead of Adam;
- SGD with Nesterov momentum 0.9, peak rate 0.1 and weight decay 5e-4 instead of Adam;
- batch 128 (twice the steps);
- twice the epochs; twice the epochs with more regularization (dropout 0.25, shifts up to 10 % and rotations up
  to 0.05 of a turn instead of 8 % and 0.03);
- mixed precision (Keras' ``mixed_bfloat16`` policy: bfloat16 arithmetic, float32 weights and probabilities),
  which this CPU runs in hardware (AVX-512 BF16); on its own, and with 18 epochs instead of 12 (longer training,
  paid for in part by bfloat16's speed).

Validation accuracy is what a choice between them may use; the test column is printed for the record (the
question this answers is whether any of them is worth adopting, which 07 then checks on validation).
Prints a table and writes JSON.

    python benchmarks/modern_cnn_variants.py                 # the real run: one training per variant, minutes each
    python benchmarks/modern_cnn_variants.py --only recipe   # one variant
    python benchmarks/modern_cnn_variants.py --only recipe "elastic alpha 20" "elastic alpha 34" \
        "2 blocks 64-128" "2 convs in block 2" --out benchmarks/results/modern_cnn_variants_depth_elastic.json
    python benchmarks/modern_cnn_variants.py --seed 43 --split-seed 42 --only recipe "2/3 width 64-128-256"
    python benchmarks/modern_cnn_variants.py --resume        # keep the variants --out holds, run the others
    python benchmarks/modern_cnn_variants.py --smoke         # tiny budget: checks the script runs

The JSON is rewritten after every variant, so a run that is stopped keeps the variants it finished, and
``--resume`` goes on from there (the same seed, split and recipe, or it refuses). The seconds of resumed
variants were measured in another run, perhaps on a busier machine: compare them with care.
"""
from __future__ import annotations

import dataclasses
import json
import sys

import common
import keras
import numpy as np

import mnistkit as mk

EMA_MOMENTA = (0.99, 0.998)


class WeightAverage(keras.callbacks.Callback):
    """Exponential moving averages of the trainable weights after every step, one set per momentum."""

    def __init__(self, momenta=EMA_MOMENTA):
        super().__init__()
        self.momenta = momenta

    def on_train_begin(self, logs=None):
        self.averages = {m: [keras.Variable(v.numpy(), trainable=False) for v in self.model.trainable_variables]
                         for m in self.momenta}

    def on_train_batch_end(self, batch, logs=None):
        for m, averages in self.averages.items():
            for avg, v in zip(averages, self.model.trainable_variables):
                avg.assign(m * avg + (1 - m) * v.value)


def keras_layers(*, shift: float, rotation: float, seed: int, zoom: float = 0.0) -> keras.Sequential:
    """The same random shifts and rotations from Keras' layers (each one resamples the digit), with an optional zoom."""
    L = keras.layers
    steps = [L.RandomRotation(rotation, fill_mode="constant", seed=seed)]
    steps += [L.RandomZoom(zoom, fill_mode="constant", seed=seed)] if zoom else []
    steps += [L.RandomTranslation(shift, shift, fill_mode="constant", seed=seed)]
    return keras.Sequential([L.Reshape((28, 28, 1)), *steps, L.Reshape((28, 28))], name="augment")


ELASTIC_SIGMA = 4.0


class ElasticShiftRotate(mk.models.RandomShiftRotate):
    """``mk.models.RandomShiftRotate``'s shifts and rotations (the same draws) plus an elastic displacement of every
    pixel, all in one bilinear resampling, active only while training.

    The displacement field is uniform noise in [-1, 1] per pixel and axis, smoothed by a Gaussian of ``sigma`` pixels
    and multiplied by ``alpha`` (Simard, Steinkraus and Platt 2003 used alpha 34, sigma 4 on MNIST).
    """

    def __init__(self, *, shift: float, rotation: float, alpha: float, sigma: float = ELASTIC_SIGMA, seed=None,
                 **kwargs):
        super().__init__(shift=shift, rotation=rotation, seed=seed, **kwargs)
        self.alpha = alpha
        radius = int(np.ceil(2 * sigma))
        gauss = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2)).astype("float32")
        gauss /= gauss.sum()
        # one depthwise pass along x, one along y, over the field's two channels (x and y displacement)
        self.smooth_x = np.tile(gauss.reshape(1, -1, 1, 1), (1, 1, 2, 1))
        self.smooth_y = np.tile(gauss.reshape(-1, 1, 1, 1), (1, 1, 2, 1))
        self.rows, self.cols = np.mgrid[0:28, 0:28].astype("float32")

    def call(self, images, training=None):
        if not training:
            return images
        ops, n = keras.ops, keras.ops.shape(images)[0]
        t = self.random_transforms(n)
        t = [t[:, i][:, None, None] for i in range(6)]
        noise = keras.random.uniform((n, 28, 28, 2), -1.0, 1.0, seed=self.generator)
        field = self.alpha * ops.depthwise_conv(ops.depthwise_conv(noise, self.smooth_x, padding="same"),
                                                self.smooth_y, padding="same")
        # where each output pixel reads the input: the affine transform's source point, then displaced
        src_x = t[0] * self.cols + t[1] * self.rows + t[2] + field[..., 0]
        src_y = t[3] * self.cols + t[4] * self.rows + t[5] + field[..., 1]
        x0, y0 = ops.floor(src_x), ops.floor(src_y)
        flat = ops.reshape(images, (-1,))
        first = ops.reshape(ops.arange(n, dtype="int32") * 28 * 28, (-1, 1, 1))
        out = ops.zeros_like(images)
        for xi, wx in ((x0, 1 - (src_x - x0)), (x0 + 1, src_x - x0)):
            for yi, wy in ((y0, 1 - (src_y - y0)), (y0 + 1, src_y - y0)):
                inside = ops.cast((xi >= 0) & (xi <= 27) & (yi >= 0) & (yi <= 27), images.dtype)
                index = first + ops.cast(ops.clip(yi, 0, 27) * 28 + ops.clip(xi, 0, 27), "int32")
                out = out + ops.take(flat, index) * inside * wx * wy  # black outside the image
        return out


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images moved by (dy, dx) pixels, the uncovered border black."""
    images, out = x.reshape(-1, 28, 28), np.zeros((len(x), 28, 28), dtype=x.dtype)
    out[:, max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
        images[:, max(-dy, 0):28 + min(-dy, 0), max(-dx, 0):28 + min(-dx, 0)]
    return out.reshape(x.shape)


SHIFTS = {"tta-4": [(0, 1), (0, -1), (1, 0), (-1, 0)],
          "tta-8": [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]}


def tta_accuracy(model, x, y) -> dict:
    plain = model.predict(x, batch_size=1024, verbose=0)
    out = {}
    for name, offsets in SHIFTS.items():
        proba = plain + sum(model.predict(shifted(x, dy, dx), batch_size=1024, verbose=0) for dy, dx in offsets)
        out[name] = float((proba.argmax(1) == y).mean())
    return out


def recipe_model(**changes) -> dict:
    """The recipe's builder arguments with ``changes``."""
    return {**common.MODERN_CNN.model, **changes}


VARIANTS = {
    "recipe": {},
    "Keras layers": {"keras_layers": True},
    "Keras layers + zoom 0.1": {"keras_layers": True, "zoom": 0.1},
    "elastic alpha 20": {"elastic": 20.0},
    "elastic alpha 34": {"elastic": 34.0},
    "2/3 width 64-128-256": {"recipe": {"model": recipe_model(stem=32, filters=(64, 128, 256))}},
    "2 blocks 64-128": {"recipe": {"model": recipe_model(stem=32, filters=(64, 128))}},
    "2 convs in block 2": {"recipe": {"model": recipe_model(convs_per_block=(1, 2, 1))}},
    "pool padding same": {"recipe": {"model": recipe_model(pool_padding="same")}},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "AdamW wd 0.05": {"optimizer": lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.05)},
    "SGD nesterov 0.1": {"recipe": {"learning_rate": 0.1},
                         "optimizer": lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True,
                                                                      weight_decay=5e-4)},
    "batch 128": {"recipe": {"batch_size": 128}},
    "2x epochs": {"recipe": {"epochs": 2 * common.MODERN_CNN.epochs}},
    "2x epochs, more regularization": {"recipe": {"epochs": 2 * common.MODERN_CNN.epochs,
                                                  "model": recipe_model(dropout=0.25),
                                                  "augment": {"shift": 0.1, "rotation": 0.05}}},
    "bfloat16": {"policy": "mixed_bfloat16"},
    "bfloat16, 18 epochs": {"policy": "mixed_bfloat16", "recipe": {"epochs": 18}},
}


def train_variant(name: str, spec: dict, data, *, epochs_cap: int | None, seed: int) -> dict:
    keras.mixed_precision.set_global_policy(spec.get("policy", "float32"))
    try:
        return _train_variant(name, spec, data, epochs_cap=epochs_cap, seed=seed)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _train_variant(name: str, spec: dict, data, *, epochs_cap: int | None, seed: int) -> dict:
    recipe = dataclasses.replace(common.MODERN_CNN, **spec.get("recipe", {}))
    smoothing = spec.get("label_smoothing", 0.0)
    if smoothing:
        recipe = dataclasses.replace(recipe, model={**recipe.model, "labels": "one_hot"})
    epochs = min(recipe.epochs, epochs_cap) if epochs_cap else recipe.epochs
    lr = recipe.schedule(train_size=len(data.x_train), epochs=epochs)
    if spec.get("keras_layers"):
        augment = keras_layers(**recipe.augment, seed=seed, zoom=spec.get("zoom", 0.0))
    elif "elastic" in spec:
        augment = ElasticShiftRotate(**recipe.augment, alpha=spec["elastic"], seed=seed, name="augment")
    else:
        augment = mk.models.augmentation(**recipe.augment, seed=seed)
    model = common.build_cnn(**recipe.model, learning_rate=lr, augment=augment, seed=seed, name=recipe.name)
    if smoothing or "optimizer" in spec:
        optimizer = spec.get("optimizer", lambda rate: mk.models.make_optimizer("adam", learning_rate=rate))
        loss = (keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if smoothing
                else "sparse_categorical_crossentropy")
        model.compile(optimizer=optimizer(lr), loss=loss, metrics=["accuracy"])
    average = WeightAverage()
    run = mk.experiments.train(model, data, name="variant", notebook="benchmark", epochs=epochs,
                            batch_size=recipe.batch_size, patience=None, seed=seed, callbacks=[average], verbose=0,
                            log=False)
    labels = mk.data.one_hot if smoothing else (lambda y: y)

    def accuracy(x, y) -> float:  # of the model's current weights
        return float(run.model.evaluate(x, labels(y), batch_size=1024, verbose=0)[1])

    row = {"variant": name, "policy": keras.mixed_precision.global_policy().name, "params": run.params,
           "epochs": epochs, "batch_size": recipe.batch_size,
           "seconds": run.seconds, "val_accuracy": run.val_accuracy,  # train leaves the test set to its callers
           "test_accuracy": accuracy(data.x_test, data.y_test), "val_curve": run.history["val_accuracy"]}
    if name == "recipe":
        for split, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
            for tta, acc in tta_accuracy(run.model, x, y).items():
                row[f"{tta}_{split}_accuracy"] = acc
    for momentum, averages in average.averages.items():
        for v, avg in zip(run.model.trainable_variables, averages):
            v.assign(avg.value)
        for split, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
            row[f"ema{momentum}_{split}_accuracy"] = accuracy(x, y)
    return row


# what --smoke runs: the recipe (with test-time augmentation) and an architecture change; the bfloat16 variant has a
# test of its own (tests/test_benchmarks.py), as on a CPU it trains several times slower
SMOKE_VARIANTS = ("recipe", "2 blocks 64-128")


RUN_IDENTITY = ("smoke", "seed", "split_seed", "recipe")  # what a resumed run must share with the one it extends


def resumed_rows(out, run: dict) -> list[dict]:
    """The variants an earlier run of the same ``run`` (seed, split, recipe, smoke) left in ``out``, or none if
    ``out`` does not exist. Raises ValueError, naming what differs, when ``out`` holds another run."""
    if not out.is_file():
        return []
    try:
        earlier = json.loads(out.read_text())
        rows = earlier["variants"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{out} is not a results file of this script ({error}); give --out another file") from None
    differs = [f"{key} {earlier.get(key)!r} (this run: {run[key]!r})" for key in RUN_IDENTITY
               if earlier.get(key) != run[key]]
    if differs:
        raise ValueError(f"{out} holds another run: {'; '.join(differs)}; give --out another file or drop --resume")
    return [r for r in rows if r.get("variant") in VARIANTS]


def save(out, result: dict):
    """Write ``result`` with its variants in ``VARIANTS``' order and the names of those not run yet."""
    result["variants"].sort(key=lambda r: list(VARIANTS).index(r["variant"]))
    result["not_run"] = [name for name in VARIANTS if name not in {r["variant"] for r in result["variants"]}]
    return common.write_json(out, result)


def main(argv=None) -> int:
    parser = common.parser(__doc__, name="modern_cnn_variants",
                           smoke=f"{', '.join(SMOKE_VARIANTS)} only (unless --only), 256 images, 1 epoch")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run these variants only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split-seed", type=int, help="seed of the validation split (default: --seed)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the variants --out already holds (same seed, split and recipe), run the others")
    args = parser.parse_args(argv)
    result = {"smoke": args.smoke, "seed": args.seed, "split_seed": args.seed if args.split_seed is None
              else args.split_seed, "recipe": repr(common.MODERN_CNN), "variants": []}
    if args.resume:
        try:
            result["variants"] = resumed_rows(args.out, result)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    rows = result["variants"]
    done = {r["variant"] for r in rows}
    todo = [name for name in args.only or (SMOKE_VARIANTS if args.smoke else VARIANTS) if name not in done]
    if args.resume:
        print(f"resuming {args.out}: {len(done)} variants kept, {len(todo)} to run", flush=True)
    data = mk.data.load_mnist_splits(validation_size=100 if args.smoke else 5_000,
                                     train_size=256 if args.smoke else None, seed=result["split_seed"])
    if args.smoke:  # each variant evaluates the test split 3 times, the recipe 9 times more: keep the smoke short
        data = dataclasses.replace(data, x_test=data.x_test[:200], y_test=data.y_test[:200])
    for name in todo:
        rows.append(train_variant(name, VARIANTS[name], data, epochs_cap=1 if args.smoke else None, seed=args.seed))
        save(args.out, result)  # after every variant: a stopped run keeps what it finished
        r = next(r for r in rows if r["variant"] == name)
        print(f"{name:<25}{r['epochs']:>3} epochs {r['seconds']:7.1f} s  val {r['val_accuracy']:.4f}  "
              f"test {r['test_accuracy']:.4f}", flush=True)
    print(f"\n{'variant':<25}{'params':>9}{'epochs':>7}{'batch':>6}{'seconds':>9}{'val acc':>9}{'test acc':>9}"
          f"{'EMA .99 val/test':>19}{'EMA .998 val/test':>19}")
    for r in rows:
        ema = [f"{r[f'ema{m}_val_accuracy']:.4f}/{r[f'ema{m}_test_accuracy']:.4f}" for m in EMA_MOMENTA]
        print(f"{r['variant']:<25}{r['params']:>9,}{r['epochs']:>7}{r['batch_size']:>6}{r['seconds']:>9.1f}"
              f"{r['val_accuracy']:>9.4f}{r['test_accuracy']:>9.4f}{ema[0]:>19}{ema[1]:>19}")
    for r in rows:
        if "tta-4_val_accuracy" in r:
            print("\ntest-time augmentation of the recipe's final model (val / test): "
                  + ", ".join(f"{t} {r[f'{t}_val_accuracy']:.4f} / {r[f'{t}_test_accuracy']:.4f}" for t in SHIFTS)
                  + f"; without: {r['val_accuracy']:.4f} / {r['test_accuracy']:.4f}")
    print(f"wrote {save(args.out, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
