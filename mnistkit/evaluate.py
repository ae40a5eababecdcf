"""Test-set metrics computed once and shown as tables (02's report, 08's comparison)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def classification_report(y_true, y_pred) -> pd.DataFrame:
    """Precision, recall, F1 and support per digit, plus macro and weighted averages, as a DataFrame."""
    from sklearn.metrics import classification_report as sk_report

    report = sk_report(y_true, y_pred, labels=list(range(10)), output_dict=True, zero_division=0)
    accuracy = report.pop("accuracy", None)
    frame = pd.DataFrame(report).T
    frame.index = [str(i) for i in frame.index]
    frame["support"] = frame["support"].astype(int)
    frame.attrs["accuracy"] = accuracy
    return frame.round(4)


def per_class_accuracy(y_true, y_pred) -> pd.Series:
    """Accuracy on each digit (recall), indexed 0-9."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return pd.Series([float(np.mean(y_pred[y_true == d] == d)) if np.any(y_true == d) else np.nan
                      for d in range(10)], index=range(10), name="accuracy")


def layer_statistics(model, x, y) -> pd.DataFrame:
    """Per hidden Dense layer: mean |gradient| of the loss w.r.t. its kernel, and its activations' mean and std.

    Shows why deep sigmoid stacks learn slowly (04): the gradient shrinks layer by layer towards the input.
    """
    import keras
    import tensorflow as tf

    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    acts = [l for l in model.layers if isinstance(l, keras.layers.Activation)]
    probe = keras.Model(model.inputs, [l.output for l in acts]) if acts else None
    with tf.GradientTape() as tape:
        proba = model([x], training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, proba))
    grads = tape.gradient(loss, [l.kernel for l in dense])
    outputs = probe([x], training=False) if probe else []
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    rows = []
    for i, (layer, grad) in enumerate(zip(dense, grads)):
        act = keras.ops.convert_to_numpy(outputs[i]) if i < len(outputs) else None
        rows.append({"layer": layer.name, "mean |gradient|": float(tf.reduce_mean(tf.abs(grad))),
                     "activation mean": float(act.mean()) if act is not None else np.nan,
                     "activation std": float(act.std()) if act is not None else np.nan})
    return pd.DataFrame(rows).set_index("layer")
