"""Metrics and diagnostics of trained models: test-set tables (02's report, 08's comparison), confidence
intervals and McNemar's test, layer statistics, inference latency, the Pareto front."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import check_labels


def classification_report(y_true, y_pred) -> pd.DataFrame:
    """Precision, recall, F1 and support per digit, plus macro and weighted averages, as a DataFrame."""
    from sklearn.metrics import classification_report as sk_report

    y_true, y_pred = check_labels(y_true=y_true, y_pred=y_pred)
    report = sk_report(y_true, y_pred, labels=list(range(10)), output_dict=True, zero_division=0)
    accuracy = report.pop("accuracy", None)
    frame = pd.DataFrame(report).T
    frame.index = [str(i) for i in frame.index]
    frame["support"] = frame["support"].astype(int)
    frame.attrs["accuracy"] = accuracy
    return frame.round(4)


def probabilities(models: dict, x, *, batch_size: int = 1024) -> dict:
    """``{name: model.predict(x)}`` for several models (08), without TensorFlow's retracing warning.

    Each Keras model traces its own predict function; after five models TensorFlow warns about "excessive
    retracing", which is expected here and not a problem, so its Python logger is quietened meanwhile.
    """
    from . import tensorflow_log_level

    with tensorflow_log_level("ERROR"):
        return {name: model.predict(x, batch_size=batch_size, verbose=0) for name, model in models.items()}


def per_class_accuracy(y_true, y_pred) -> pd.Series:
    """Accuracy on each digit (recall), indexed 0-9."""
    y_true, y_pred = check_labels(y_true=y_true, y_pred=y_pred)
    return pd.Series([float(np.mean(y_pred[y_true == d] == d)) if np.any(y_true == d) else np.nan
                      for d in range(10)], index=range(10), name="accuracy")


def layer_statistics(model, x, y) -> pd.DataFrame:
    """Per hidden Dense layer: mean |gradient| of the loss w.r.t. its kernel, and its activations' mean and std.

    Shows why deep sigmoid stacks learn slowly (04): the gradient shrinks layer by layer towards the input.
    """
    import keras
    import tensorflow as tf

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    acts = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    probe = keras.Model(model.inputs, [layer.output for layer in acts]) if acts else None
    with tf.GradientTape() as tape:
        proba = model(x, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, proba))
    grads = tape.gradient(loss, [layer.kernel for layer in dense])
    outputs = probe([x], training=False) if probe else []  # built from model.inputs: a list
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    rows = []
    for i, (layer, grad) in enumerate(zip(dense, grads)):
        act = keras.ops.convert_to_numpy(outputs[i]) if i < len(outputs) else None
        rows.append({"layer": layer.name, "mean |gradient|": float(tf.reduce_mean(tf.abs(grad))),
                     "activation mean": float(act.mean()) if act is not None else np.nan,
                     "activation std": float(act.std()) if act is not None else np.nan})
    return pd.DataFrame(rows).set_index("layer")


def standard_error(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` images, ``sqrt(p (1 - p) / n)``: about how far another
    sample of ``n`` images would move it. Models closer than about two of these are within the split's noise."""
    if not isinstance(accuracy, (int, float, np.floating)) or not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy={accuracy!r} is not valid; use a number in [0, 1]")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"n={n!r} is not valid; use the number of images, an integer > 0")
    return float(np.sqrt(accuracy * (1 - accuracy) / n))


def difference_noise(accuracy: float, n: int) -> float:
    """The series' yardstick for two models scored on the same ``n`` images: two standard errors of the difference
    between their accuracies, ``2 * sqrt(2) * standard_error(accuracy, n)`` (notebook 03 writes it out). The split
    cannot rank two accuracies closer than this."""
    return 2 * 2**0.5 * standard_error(accuracy, n)


def accuracy_ci(y_true, y_pred, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Accuracy and its Wilson score interval: ``(accuracy, low, high)``.

    On 10 000 test images a 99 % accuracy is uncertain by roughly ±0.2 points: differences smaller
    than that between two models are not evidence of anything on their own.
    """
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} is not valid; use a number in (0, 1), e.g. 0.95")
    y_true, y_pred = check_labels(y_true=y_true, y_pred=y_pred)
    n = len(y_true)
    p, z = float(np.mean(y_true == y_pred)), float(norm.ppf(0.5 + confidence / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, float(centre - half), float(centre + half)


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """McNemar's exact test: do models A and B have the same error rate on these images?

    Only the images where exactly one model is right count: ``a_only`` (A right, B wrong) and ``b_only``.
    Under the null hypothesis each such image is a fair coin flip; the p-value is the exact two-sided
    binomial probability.
    """
    from scipy.stats import binomtest

    y_true, pred_a, pred_b = check_labels(y_true=y_true, pred_a=pred_a, pred_b=pred_b)
    a_right, b_right = pred_a == y_true, pred_b == y_true
    a_only, b_only = int(np.sum(a_right & ~b_right)), int(np.sum(~a_right & b_right))
    p_value = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "both_right": int(np.sum(a_right & b_right)),
            "both_wrong": int(np.sum(~a_right & ~b_right)), "p_value": float(p_value)}


def latency(model, x, *, batch_size: int = 1_000, repeats: int = 5) -> dict:
    """Inference time: milliseconds for one image (``model(x[:1])``) and for a batch of ``batch_size``.

    The median of ``repeats`` timed calls after one warm-up call each; measured on this machine only.
    """
    from .runtimes import median_ms

    def call(batch):
        return model(batch, training=False)

    x = np.asarray(x, dtype=np.float32)
    timings = {}
    for key, batch in (("ms_per_image", x[:1]), (f"ms_per_{batch_size}", x[:batch_size])):
        call(batch)  # warm-up: tracing and memory allocation
        timings[key] = median_ms(call, batch, repeats)
    return timings


def pareto_front(params, accuracy) -> np.ndarray:
    """Boolean mask of the Pareto-optimal models: none other is both smaller (or equal) and more accurate."""
    params, accuracy = np.asarray(params, float), np.asarray(accuracy, float)
    return np.array([not np.any((params <= p) & (accuracy > a) | (params < p) & (accuracy >= a))
                     for p, a in zip(params, accuracy)])
