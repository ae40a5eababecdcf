"""How the training batches are fed: seconds per epoch and idle CPU, side by side in one run.

Three ways to feed the same model the same images, each from a fresh model with the same seed:

- ``numpy``: ``model.fit(x, y, batch_size=...)``; Keras wraps the arrays in its own ``tf.data`` pipeline,
  whose buffers tf.data autotunes;
- ``tf.data AUTOTUNE``: the usual hand-written pipeline, ``shuffle().batch().prefetch(tf.data.AUTOTUNE)``;
- ``mnistkit.training.batches``: fixed buffers, autotuning off (what ``mnistkit.experiments.train`` uses).

Every epoch ends with a pass over a 5,000-image validation split, fed the same way (arrays to ``fit``, a
batched ``prefetch(AUTOTUNE)`` dataset, or ``batches(..., shuffle=False)`` in batches of
``mnistkit.training.VALIDATION_BATCH_SIZE`` as ``split_batches`` does), since that is how every epoch in the
notebooks ends; for the small MLP, whose epochs take a second or two, the validation pass is a sizeable part of the
epoch.

Each is timed over every epoch after the first (tracing), and beside the time it reports how many CPU-seconds
the whole machine sat idle during those epochs (Linux ``/proc/stat``): a process that computes the whole time
leaves ~0 idle; one that stalls leaves both cores idle. The rounds repeat (A B C A B C) so drift on a noisy
machine hits every way alike. Models: notebook 07's modern CNN (``common.MODERN_CNN``) and
notebook 03's 256-128 MLP.

    python benchmarks/input_pipeline.py            # the real benchmark (about half an hour on 2 cores)
    python benchmarks/input_pipeline.py --smoke    # tiny budget: checks the script runs
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import common
import numpy as np

import mnistkit as mk

WAYS = ("numpy", "tf.data AUTOTUNE", "mnistkit.training.batches")


def idle_cpu_seconds() -> float | None:
    """CPU-seconds all cores have sat idle since boot (None where ``/proc/stat`` is missing)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait


def fit_timed(model, x, y, val, *, way: str, batch_size: int, epochs: int,
              seed: int) -> list[tuple[float, float | None]]:
    """Fit ``epochs`` epochs fed the ``way`` given, validating on ``val`` (x, y) after each; (seconds, idle
    CPU-seconds) of each epoch, validation included."""
    import keras
    import tensorflow as tf

    marks = []

    def mark(*_):
        marks.append((time.perf_counter(), idle_cpu_seconds()))

    timer = keras.callbacks.LambdaCallback(on_epoch_begin=mark, on_epoch_end=mark)
    if way == "numpy":
        model.fit(x, y, batch_size=batch_size, validation_data=val, epochs=epochs, callbacks=[timer], verbose=0)
    elif way == "tf.data AUTOTUNE":
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(batch_size)
        val_ds = tf.data.Dataset.from_tensor_slices(val).batch(batch_size).prefetch(tf.data.AUTOTUNE)
        model.fit(ds.prefetch(tf.data.AUTOTUNE), validation_data=val_ds, epochs=epochs, callbacks=[timer],
                  shuffle=False, verbose=0)
    else:
        model.fit(mk.training.batches(x, y, batch_size=batch_size, seed=seed),
                  validation_data=mk.training.batches(*val, batch_size=mk.training.VALIDATION_BATCH_SIZE,
                                                              shuffle=False), epochs=epochs,
                  callbacks=[timer], shuffle=False, verbose=0)
    epochs_out = []
    for (t0, i0), (t1, i1) in zip(marks[::2], marks[1::2]):
        epochs_out.append((t1 - t0, None if i0 is None else i1 - i0))
    return epochs_out


def main(argv=None) -> int:
    parser = common.parser(__doc__, name="input_pipeline",
                           smoke="256 images (one batch), 100 to validate, 2 epochs, one round")
    args = parser.parse_args(argv)
    data = mk.data.load_mnist_splits(validation_size=5_000, seed=42)
    seed, rounds = 42, 1 if args.smoke else 2
    # (label, build, images, epochs, batch size): enough images that an epoch takes seconds
    models = [("modern CNN (07)", lambda: common.MODERN_CNN.build(train_size=15_000, epochs=8, seed=seed),
               256 if args.smoke else 15_000, 2 if args.smoke else 8, common.MODERN_CNN.batch_size),
              ("MLP 256-128 (03)", lambda: mk.models.build_mlp((256, 128), seed=seed),
               256 if args.smoke else 55_000, 2 if args.smoke else 8, 256)]
    print(f"{mk.machine.describe()}\n")
    report = {"rounds": rounds, "models": []}
    for label, build, n, epochs, batch_size in models:
        x, y = data.x_train[:n], data.y_train[:n]
        val = (data.x_val[:100], data.y_val[:100]) if args.smoke else (data.x_val, data.y_val)
        runs = {way: [] for way in WAYS}
        for _ in range(rounds):
            for way in WAYS:
                mk.training.set_seed(seed)
                runs[way] += fit_timed(build(), x, y, val, way=way, batch_size=batch_size, epochs=epochs, seed=seed)[1:]
        rows = []
        for way, timed in runs.items():
            seconds = [s for s, _ in timed]
            idle = [i for _, i in timed if i is not None]
            rows.append({"way": way, "epochs_timed": len(seconds), "seconds": round(sum(seconds), 2),
                         "median_epoch_s": round(float(np.median(seconds)), 2),
                         "slowest_epoch_s": round(max(seconds), 2),
                         "idle_cpu_s_per_epoch": round(float(np.mean(idle)), 2) if idle else None,
                         "epoch_seconds": [round(s, 2) for s in seconds]})
        base = rows[0]["seconds"]
        print(f"{label}: {n:,} images and {len(val[0]):,} to validate, batch {batch_size}, "
              f"{rows[0]['epochs_timed']} timed epochs per way "
              f"({rounds} round(s) of {epochs} epochs, the first of each untimed)")
        print(f"  {'way':<28} {'seconds':>8} {'median':>7} {'slowest':>8} {'idle CPU-s/epoch':>17} {'vs numpy':>9}")
        for r in rows:
            idle = "n/a" if r["idle_cpu_s_per_epoch"] is None else f"{r['idle_cpu_s_per_epoch']:.1f}"
            print(f"  {r['way']:<28} {r['seconds']:>8.1f} {r['median_epoch_s']:>7.1f} {r['slowest_epoch_s']:>8.1f} "
                  f"{idle:>17} {base / r['seconds']:>8.2f}x")
        print()
        report["models"].append({"model": label, "images": n, "validation_images": len(val[0]),
                                 "batch_size": batch_size, "epochs": epochs,
                                 "results": rows})
    print(f"wrote {common.write_json(args.out, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
