"""Seconds of training until the first epoch at >= 99.2 % test accuracy, on this machine, in one run:

(a) the keras-io ``mnist_convnet`` recipe as documented: conv 32 and 64 (3x3) with max pooling, dropout 0.5,
    Adam, categorical cross-entropy, batch 128, ``validation_split=0.1``, 15 epochs;
(b) mnistkit's fastest recipe (``common.FAST_CNN``), trained with ``mnistkit.experiments.train``.

The test set is evaluated after every epoch *for this benchmark only*; that evaluation is not counted in
the seconds. Prints a table and writes JSON.

    python benchmarks/time_to_accuracy.py            # the real benchmark (a few minutes)
    python benchmarks/time_to_accuracy.py --smoke    # tiny budget: checks the script runs
"""
from __future__ import annotations

import dataclasses
import sys
import time

import common
import keras

import mnistkit as mk

TARGET = 0.992


class TestEveryEpoch(keras.callbacks.Callback):
    """Evaluate the test set after each epoch; track training seconds without the evaluation time."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.epochs, self.eval_seconds = [], 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        train_seconds = time.perf_counter() - self.start - self.eval_seconds
        t0 = time.perf_counter()
        _, acc = self.model.evaluate(self.x_test, self.y_test, batch_size=1024, verbose=0)[:2]
        self.eval_seconds += time.perf_counter() - t0
        self.epochs.append({"epoch": epoch + 1, "seconds": round(train_seconds, 2), "test_accuracy": float(acc)})
        print(f"  epoch {epoch + 1:>2}  {train_seconds:7.1f} s  test {acc:.4f}", flush=True)


def kerasio(x_train, y_train, x_test, y_test, *, epochs: int, seed: int):
    """The keras-io example, verbatim in substance (its data prep: scale, add channel, one-hot)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    probe = TestEveryEpoch(x_test[..., None], keras.utils.to_categorical(y_test, 10))
    model.fit(x_train[..., None], keras.utils.to_categorical(y_train, 10), batch_size=128, epochs=epochs,
              validation_split=0.1, callbacks=[probe], verbose=0)
    return probe.epochs, model.count_params()


def mnistkit_fast(data, *, epochs: int, seed: int):
    recipe = common.FAST_CNN
    model = recipe.build(train_size=len(data.x_train), epochs=epochs, seed=seed)
    probe = TestEveryEpoch(data.x_test, data.y_test)
    mk.experiments.train(model, data, name="fast-cnn-benchmark", notebook="benchmark", epochs=epochs,
                      batch_size=recipe.batch_size, patience=None, seed=seed, callbacks=[probe], verbose=0, log=False)
    return probe.epochs, model.count_params()


def summarise(name, trained, target):
    epochs, params = trained
    hit = next((e for e in epochs if e["test_accuracy"] >= target), None)
    return {"recipe": name, "params": params, "epochs_run": len(epochs), "epoch_at_target": hit and hit["epoch"],
            "seconds_to_target": hit and hit["seconds"], "final_test_accuracy": epochs[-1]["test_accuracy"],
            "seconds_total": epochs[-1]["seconds"], "seconds_per_epoch": round(epochs[-1]["seconds"] / len(epochs), 2),
            "per_epoch": epochs}


def main(argv=None) -> int:
    parser = common.parser(__doc__, name="time_to_accuracy", smoke="1 000 images, 1 epoch each, 1 000 test images")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    (x, y), (x_test, y_test) = mk.data.load_mnist()
    n = 1_000 if args.smoke else len(x)
    x_train = mk.data.scale(x[:n])
    data = mk.data.load_mnist_splits(validation_size=200 if args.smoke else 5_000,
                                     train_size=800 if args.smoke else None, seed=args.seed)
    if args.smoke:  # each epoch is scored on the test split: a tenth of it is enough to check the script runs
        x_test, y_test = x_test[:1_000], y_test[:1_000]
        data = dataclasses.replace(data, x_test=data.x_test[:1_000], y_test=data.y_test[:1_000])
    kerasio_epochs = 1 if args.smoke else 15
    fast_epochs = 1 if args.smoke else common.FAST_CNN.epochs
    print(f"(a) keras-io mnist_convnet, {kerasio_epochs} epochs, batch 128:")
    a = summarise("keras-io mnist_convnet", kerasio(x_train, y[:n], mk.data.scale(x_test), y_test,
                                                     epochs=kerasio_epochs, seed=args.seed), TARGET)
    print(f"(b) mnistkit FAST_CNN, {fast_epochs} epochs, batch {common.FAST_CNN.batch_size}:")
    b = summarise("mnistkit FAST_CNN", mnistkit_fast(data, epochs=fast_epochs, seed=args.seed), TARGET)
    ratio, bound = None, False
    if b["seconds_to_target"]:
        if a["seconds_to_target"]:
            ratio = a["seconds_to_target"] / b["seconds_to_target"]
        else:  # (a) never got there: its whole run is a lower bound on its time to the target
            ratio, bound = a["seconds_total"] / b["seconds_to_target"], True
    print(f"\n{'recipe':<24}{'params':>8}{'s/epoch':>9}{'epoch at 99.2%':>16}{'seconds to 99.2%':>18}"
          f"{'final test acc':>16}")
    for r in (a, b):
        print(f"{r['recipe']:<24}{r['params']:>8,}{r['seconds_per_epoch']:>9.1f}{str(r['epoch_at_target']):>16}"
              f"{str(r['seconds_to_target']):>18}{r['final_test_accuracy']:>16.4f}")
    if ratio is None:
        verdict = "n/a: mnistkit's recipe did not reach the target"
    elif bound:
        verdict = (f"at least {ratio:.2f}x ((a) did not reach {TARGET:.1%} in {len(a['per_epoch'])} epochs, "
                   f"{a['seconds_total']:.0f} s)")
    else:
        verdict = f"{ratio:.2f}x"
    print(f"\nratio (a)/(b) of seconds to {TARGET:.1%}: {verdict}")
    result = {"target": TARGET, "smoke": args.smoke, "recipes": [a, b],
              "ratio": ratio, "ratio_is_lower_bound": bound, "mnistkit_recipe": repr(common.FAST_CNN)}
    print(f"wrote {common.write_json(args.out, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
