import numpy as np
import pytest
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


def test_accuracy_ci_brackets_the_accuracy_and_narrows_with_n():
    import pytest
    y = np.zeros(100, int)
    pred = np.r_[np.zeros(90, int), np.ones(10, int)]
    acc, low, high = evaluate.accuracy_ci(y, pred)
    assert acc == 0.9 and low < 0.9 < high and 0.82 < low < 0.85 and 0.94 < high < 0.95  # Wilson, n=100
    _, low_big, high_big = evaluate.accuracy_ci(np.tile(y, 100), np.tile(pred, 100))
    assert high_big - low_big < (high - low) / 5
    with pytest.raises(ValueError, match="confidence"):
        evaluate.accuracy_ci(y, pred, confidence=95)


def test_mcnemar_counts_disagreements_and_matches_the_binomial():
    from scipy.stats import binomtest
    y = np.zeros(50, int)
    a = np.r_[np.zeros(40, int), np.ones(10, int)]          # wrong on the last 10
    b = np.r_[np.ones(3, int), np.zeros(47, int)]           # wrong on the first 3
    result = evaluate.mcnemar(y, a, b)
    assert (result["a_only"], result["b_only"], result["both_wrong"]) == (3, 10, 0)
    assert result["p_value"] == binomtest(3, 13, 0.5).pvalue
    assert evaluate.mcnemar(y, a, a)["p_value"] == 1.0


def test_latency_reports_both_sizes():
    import keras
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    timing = evaluate.latency(model, np.zeros((20, 28, 28)), batch_size=20, repeats=2)
    assert set(timing) == {"ms_per_image", "ms_per_20"} and all(v > 0 for v in timing.values())


def test_pareto_front_keeps_only_undominated_models():
    params = [10, 100, 1000, 50, 100]
    acc = [0.90, 0.95, 0.99, 0.89, 0.94]
    assert evaluate.pareto_front(params, acc).tolist() == [True, True, True, False, False]


def test_probabilities_of_many_models_match_predict_without_retracing_warnings(capfd, caplog):
    from mnistkit import models

    x = np.random.default_rng(0).random((64, 28, 28)).astype("float32")
    many = {f"m{i}": models.build_mlp((8,), seed=i) for i in range(7)}
    with caplog.at_level("WARNING", logger="tensorflow"):
        proba = evaluate.probabilities(many, x, batch_size=32)
    assert list(proba) == list(many)
    for name, model in many.items():
        np.testing.assert_allclose(proba[name], model.predict(x, batch_size=32, verbose=0), atol=1e-6)
    said = caplog.text + "".join(capfd.readouterr())
    assert "retracing" not in said


def test_the_noise_yardstick_is_exceeded_by_chance_about_one_time_in_twenty():
    """Two equally good models scored on the same 5 000 images, with independent mistakes: their measured
    accuracies differ by more than difference_noise in about 5 % of draws (two standard errors of a difference)."""
    import pytest
    n, p = 5_000, 0.98
    assert evaluate.standard_error(p, n) == pytest.approx((p * (1 - p) / n) ** 0.5)
    noise = evaluate.difference_noise(p, n)
    assert noise == pytest.approx(2 * 2**0.5 * evaluate.standard_error(p, n))
    rng = np.random.default_rng(0)
    gaps = (rng.binomial(n, p, 40_000) - rng.binomial(n, p, 40_000)) / n
    assert 0.04 < np.mean(np.abs(gaps) > noise) < 0.06
    with pytest.raises(ValueError, match="accuracy=1.5"):
        evaluate.difference_noise(1.5, n)
    with pytest.raises(ValueError, match="n=0"):
        evaluate.difference_noise(p, 0)


@pytest.mark.parametrize("call", [
    lambda y, p: evaluate.per_class_accuracy(y, p),   # silently all zeros before
    lambda y, p: evaluate.accuracy_ci(y, p),
    lambda y, p: evaluate.mcnemar(y, p, p),
    lambda y, p: evaluate.classification_report(y, p),
])
def test_probabilities_where_labels_belong_get_the_argmax_hint(call):
    y, proba = np.array([0, 1, 2]), np.eye(10)[[0, 1, 2]]
    with pytest.raises(ValueError, match=r"holds probabilities, shape \(3, 10\); pass class labels: .*\.argmax\(1\)"):
        call(y, proba)
    with pytest.raises(ValueError, match="differ in length"):
        call(y, y[:2])
    with pytest.raises(ValueError, match="non-empty 1-d array of class labels 0-9"):
        call(y, np.array([0, 1, 10]))
