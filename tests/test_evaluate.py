import numpy as np
from sklearn.metrics import accuracy_score

from mnistkit import evaluate


def test_classification_report_and_per_class_accuracy_agree_with_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    pred = np.where(rng.random(500) < 0.8, y, rng.integers(0, 10, 500))
    report = evaluate.classification_report(y, pred)
    assert list(report.index[:10]) == [str(d) for d in range(10)]
    assert report.attrs["accuracy"] == accuracy_score(y, pred)
    assert report.loc["3", "support"] == (y == 3).sum()
    per_class = evaluate.per_class_accuracy(y, pred)
    assert per_class[3] == accuracy_score(y[y == 3], pred[y == 3])
    assert np.isclose(report.loc["3", "recall"], per_class[3], atol=1e-4)
