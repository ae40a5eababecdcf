"""Training throughput (samples per second) on this machine, side by side in one run.

For an MLP (256-128) and the keras-io CNN it measures plain ``model.fit`` on NumPy arrays with Keras's
defaults (batch 32) against mnistkit's settings, and the effect of each setting on its own: batch size,
a ``tf.data`` pipeline with cache and prefetch, TensorFlow's intra-/inter-op thread counts, oneDNN on/off,
Keras' ``mixed_bfloat16`` policy (bfloat16 arithmetic, float32 weights; fast only on CPUs with bfloat16 instructions),
XLA (``jit_compile=True``; Keras leaves it off on a machine without a GPU) and ``steps_per_execution=16`` (Keras runs
16 batches per call into TensorFlow instead of one, so the per-batch Python and dispatch cost is paid once per 16).
Settings that TensorFlow reads at start-up (threads, oneDNN) run in a fresh child process each.
Beside them: the FLOP bound, i.e. samples/s if every core ran at the matmul speed measured here.

    python benchmarks/throughput.py            # the real benchmark (a few minutes)
    python benchmarks/throughput.py --smoke    # tiny budget: checks the script runs
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import common

import mnistkit as mk

MODELS = ("mlp", "cnn")


def build(kind: str):
    if kind == "mlp":
        return mk.models.build_mlp((256, 128), seed=0)
    return common.build_cnn((32, 64), dropout=0.5, seed=0)


def train_flops_per_sample(model) -> float:
    """Multiply-adds of Dense and Conv2D layers x 2 (FLOPs) x 3 (forward, and two backward products)."""
    macs = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
        elif kind == "Conv2D":
            h, w = layer.output.shape[1:3]
            kh, kw, cin, cout = layer.kernel.shape
            macs += h * w * kh * kw * cin * cout
    return 2.0 * 3.0 * macs


def matmul_gflops(seconds: float = 2.0) -> float:
    """Sustained float32 matmul speed of this process, in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((1024, 1024))
    b = tf.random.normal((1024, 1024))
    tf.linalg.matmul(a, b).numpy()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tf.linalg.matmul(a, b).numpy()
        n += 1
    return 2 * 1024 ** 3 * n / (time.perf_counter() - start) / 1e9


def measure(kind: str, *, batch_size: int, pipeline: str, samples: int, epochs: int = 4, xla: bool = False,
            steps_per_execution: int = 1) -> float:
    """Samples/s over the median epoch of ``epochs - 1`` timed ones (the first warms up: tracing, allocation)."""
    import keras
    import tensorflow as tf

    (x, y), _ = mk.data.load_mnist()
    x, y = mk.data.scale(x[:samples]), y[:samples]
    model = build(kind)
    model.jit_compile = xla  # the compile() arguments, set after build() compiled the model
    model.steps_per_execution = steps_per_execution
    times = []
    timer = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: times.append(time.perf_counter()),
                                           on_epoch_end=lambda epoch, logs: times.append(time.perf_counter()))
    if pipeline == "tfdata":
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(samples, seed=0).batch(batch_size)
        model.fit(ds.prefetch(tf.data.AUTOTUNE), epochs=epochs, callbacks=[timer], verbose=0)
    else:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0)
    durations = sorted(end - begin for begin, end in zip(times[2::2], times[3::2]))
    return samples / durations[len(durations) // 2]


def in_child(setting: dict, env: dict) -> dict:
    """Measure one setting in a fresh Python (TensorFlow reads threads/oneDNN only at start-up)."""
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(setting)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"child failed for {setting}: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(setting: dict) -> None:
    import tensorflow as tf

    if setting.get("policy"):
        import keras

        keras.mixed_precision.set_global_policy(setting["policy"])
    if setting.get("intra"):
        tf.config.threading.set_intra_op_parallelism_threads(setting["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(setting["inter"])
    rate = measure(setting["model"], batch_size=setting["batch_size"], pipeline=setting["pipeline"],
                   samples=setting["samples"], xla=setting.get("xla", False),
                   steps_per_execution=setting.get("steps_per_execution", 1))
    print(json.dumps({"samples_per_s": rate}))


def settings_for(kind: str, samples: int, best_batch: int):
    """(label, setting, extra env) for every measurement of one model."""
    base = {"model": kind, "samples": samples, "pipeline": "numpy"}
    rows = [("plain model.fit (batch 32, NumPy)", {**base, "batch_size": 32}, {})]
    rows += [(f"batch {b}" + (" (mnistkit's train default)" if b == 256 else ""), {**base, "batch_size": b}, {})
             for b in (128, 256, 512, 1024)]
    best = {**base, "batch_size": best_batch}
    rows += [(f"tf.data cache+prefetch, batch {best_batch}", {**best, "pipeline": "tfdata"}, {})]
    rows += [(f"threads intra {i} / inter {j}, batch {best_batch}", {**best, "intra": i, "inter": j}, {})
             for i, j in ((1, 1), (2, 1), (2, 2))]
    rows += [(f"oneDNN off, batch {best_batch}", best, {"TF_ENABLE_ONEDNN_OPTS": "0"})]
    rows += [(f"mixed_bfloat16, batch {best_batch}", {**best, "policy": "mixed_bfloat16"}, {})]
    rows += [(f"XLA (jit_compile=True), batch {best_batch}", {**best, "xla": True}, {})]
    rows += [(f"steps_per_execution=16, batch {best_batch}", {**best, "steps_per_execution": 16}, {})]
    return rows


def main(argv=None) -> int:
    parser = common.parser(__doc__, name="throughput",
                           smoke="the MLP only, 1 000 samples, plain model.fit only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    # enough images that an epoch takes seconds (the timer's noise is small beside it)
    samples = {kind: 1_000 if args.smoke else n for kind, n in (("mlp", 60_000), ("cnn", 15_000))}
    peak = matmul_gflops(0.5 if args.smoke else 3.0)
    print(f"{mk.machine.describe()}; float32 matmul: {peak:.0f} GFLOP/s\n")
    report = {"matmul_gflops": peak, "samples": samples, "models": {}}
    for kind in ("mlp",) if args.smoke else MODELS:
        rows = settings_for(kind, samples[kind], best_batch=512 if kind == "mlp" else 256)
        rows = rows[:1] if args.smoke else rows  # each setting is a fresh process: one is enough to check they run
        bound = peak * 1e9 / train_flops_per_sample(build(kind))
        results = []
        for label, setting, env in rows:
            rate = in_child(setting, env)["samples_per_s"]
            results.append({"setting": label, "samples_per_s": round(rate), **setting, "env": env})
            print(f"{kind}  {label:<46} {rate:>9,.0f} samples/s  {rate / results[0]['samples_per_s']:5.2f}x plain",
                  flush=True)
        print(f"{kind}  {'FLOP bound (matmul speed / FLOPs per sample)':<46} {bound:>9,.0f} samples/s\n")
        report["models"][kind] = {"flop_bound_samples_per_s": round(bound), "results": results}
    print(f"wrote {common.write_json(args.out, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
