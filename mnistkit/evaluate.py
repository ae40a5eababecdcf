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
