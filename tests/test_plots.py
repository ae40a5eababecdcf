import numpy as np
import pytest
from matplotlib.figure import Figure

from mnistkit import plots

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (60, 28, 28), dtype=np.uint8)
Y = np.tile(np.arange(10), 6)
PROBA = RNG.dirichlet(np.ones(10), size=60)


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_digit_grid(X, Y, per_class=3, seed=0),
    lambda: plots.plot_class_balance(Y, Y[:20]),
    lambda: plots.plot_pixel_histogram(X),
    lambda: plots.plot_image(X.var(axis=0), title="variance"),
    lambda: plots.plot_images(X[:12], titles=[str(i) for i in range(12)], ncols=6),
    lambda: plots.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.7]}),
    lambda: plots.plot_history({"a": {"loss": [1, 0.5], "accuracy": [0.2, 0.4]},
                                "b": {"loss": [2, 1.0], "accuracy": [0.1, 0.3]}}),
    lambda: plots.plot_confusion_matrix(Y, PROBA.argmax(1)),
    lambda: plots.plot_confusion_matrix(Y, PROBA.argmax(1), normalize="true"),
    lambda: plots.plot_mistakes(X, Y, PROBA, n=8),
    lambda: plots.plot_mistakes(X, Y, PROBA, n=8, order="random", seed=1),
], ids=["grid", "balance", "pixels", "image", "images", "history", "histories", "cm", "cm-norm",
        "mistakes", "mistakes-random"])
def test_plot_functions_return_a_figure_and_leave_pyplot_alone(draw):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    fig = draw()
    assert isinstance(fig, Figure) and fig.axes
    assert plt.get_fignums() == before


def test_plot_draws_into_given_axes():
    fig = Figure()
    ax = fig.subplots()
    assert plots.plot_class_balance(Y, Y, ax=ax) is fig


def test_most_confident_mistakes_come_first():
    proba = np.full((4, 10), 0.01)
    proba[0, 3], proba[1, 4], proba[2, 2], proba[3, 5] = 0.5, 0.9, 0.9, 0.7   # rows 0, 1, 3 are wrong
    fig = plots.plot_mistakes(X[:4], np.array([0, 1, 2, 3]), proba, n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["1→4 (90%)", "3→5 (70%)", "0→3 (50%)"]


@pytest.mark.parametrize("runs, metrics, message", [
    ({"loss": [1.0], "accuracy": [0.5]}, ("acc",), "metric 'acc' is not in the history of 'run'; choose from: loss, "
                                                   "accuracy"),
    ({}, ("loss",), "choose from: nothing, it is empty"),
    ([], ("loss",), "nothing to plot"),
    ({"loss": [1.0]}, (), "nothing to plot"),
])
def test_plot_history_names_the_metrics_it_has(runs, metrics, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plots.plot_history(runs, metrics=metrics)


def test_unknown_order_is_rejected():
    with pytest.raises(ValueError, match="confident, random"):
        plots.plot_mistakes(X, Y, PROBA, order="worst")


@pytest.mark.parametrize("draw, message", [
    (lambda: plots.plot_images(X[:4], ncols=0), "ncols=0 is not valid; use a positive integer"),
    (lambda: plots.plot_digit_grid(X, Y, per_class=0), "per_class=0 is not valid; use a positive integer"),
    (lambda: plots.plot_mistakes(X, Y, PROBA, n=-1), "n=-1 is not valid; use a positive integer"),
    (lambda: plots.plot_mistakes(X, Y, PROBA, ncols=2.5), "ncols=2.5 is not valid; use a positive integer"),
], ids=["images-ncols", "grid-per-class", "mistakes-n", "mistakes-ncols"])
def test_counts_that_draw_nothing_are_refused_by_name(draw, message):
    with pytest.raises(ValueError, match=message):
        draw()


def test_comparison_plots_return_figures():
    import pandas as pd
    table = pd.DataFrame({"params": [10, 100, 1000], "test_accuracy": [0.9, 0.95, 0.99]}, index=["a", "b", "c"])
    assert isinstance(plots.plot_pareto(table), Figure)
    assert isinstance(plots.plot_heatmap(pd.DataFrame(RNG.random((3, 10)), index=list("abc"))), Figure)
    assert isinstance(plots.plot_lr_range(pd.DataFrame({"lr": [1e-5, 1e-3, 1e-1], "loss": [2, 1, 3],
                                                        "smoothed": [2, 1.5, 2.5]})), Figure)
    assert isinstance(plots.plot_bars(pd.Series([1.0, 2.0], index=["x", "y"]), logy=True), Figure)


def test_confusion_difference_shows_b_minus_a_off_the_diagonal_under_the_given_names():
    y_true = np.array([3, 3, 3, 5, 5, 8])
    pred_a = np.array([8, 8, 3, 3, 5, 8])     # A confuses 3 as 8 twice and 5 as 3 once
    pred_b = np.array([8, 3, 3, 5, 5, 0])     # B: 3 as 8 once, 8 as 0 once
    fig = plots.plot_confusion_difference(y_true, pred_a, pred_b, labels=("mlp", "cnn"))
    ax = fig.axes[0]
    assert ax.get_title() == "Confusions: cnn minus mlp (off-diagonal)"
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(3, 8): "-1", (5, 3): "-1", (8, 0): "1"}   # (true, predicted): B's count minus A's


def test_plot_quantization_shows_the_weights_and_how_far_they_moved():
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, (10, 50)).astype(np.float32)
    scales = np.abs(weights).max(axis=1) / 127
    integers = np.round(weights / scales[:, None]).astype(np.int8)
    fig = plots.plot_quantization(weights, integers, scales)
    left, right = fig.axes
    assert len(left.patches) > 0 and left.get_legend() is not None
    moved = sum(p.get_height() for p in right.patches)
    assert moved == weights.size
    assert all(abs(p.get_x()) <= 0.55 for p in right.patches if p.get_height() > 0), "at most half a step"


def test_plot_schedule_draws_the_rate_keras_would_use():
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(0.01 / 25, decay_steps=80, warmup_target=0.01, warmup_steps=20)
    fig = plots.plot_schedule(schedule, steps=100, steps_per_epoch=10)
    x, y = fig.axes[0].lines[0].get_data()
    assert x[0] == 0 and x[-1] == 10 and fig.axes[0].get_xlabel() == "epoch"
    assert max(y) == pytest.approx(0.01) and y[0] == pytest.approx(0.0004) and y[-1] < 1e-6
    with pytest.raises(ValueError, match="steps=0"):
        plots.plot_schedule(schedule, steps=0)
    with pytest.raises(ValueError, match="not a learning-rate schedule"):
        plots.plot_schedule(0.01, steps=10)


def test_a_hue_column_colours_each_family_and_names_it_in_the_legend():
    import pandas as pd
    from matplotlib.colors import to_hex
    table = pd.DataFrame({"params": [10, 100, 1000, 5000], "test_accuracy": [0.9, 0.95, 0.99, 0.98],
                          "family": ["MLP", "MLP", "CNN", "CNN"]}, index=list("abcd"))
    ax = plots.plot_pareto(table, hue="family").axes[0]
    colours = [to_hex(c) for c in ax.collections[0].get_facecolors()]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    assert {"MLP", "CNN", "Pareto front"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    with pytest.raises(ValueError, match="choose one of: params, test_accuracy, family"):
        plots.plot_accuracy_vs_params(table, hue="kind")


def test_history_legend_says_train_or_val_only_for_curves_that_are_one():
    runs = {"a": {"loss": [1, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.7, 0.9], "val_accuracy": [0.8, 0.9]},
            "b": {"loss": [2, 1.0], "val_loss": [2.1, 1.2], "accuracy": [0.6, 0.8], "val_accuracy": [0.7, 0.8]}}
    labels = lambda fig: [line.get_label() for line in fig.axes[0].get_lines()]  # noqa: E731
    assert labels(plots.plot_history(runs)) == ["a train", "a val", "b train", "b val"]
    assert labels(plots.plot_history(runs, metrics=("val_accuracy",))) == ["a val", "b val"]
    assert labels(plots.plot_history({"search": {"best_so_far": [0.9, 0.95]}}, metrics=("best_so_far",))) == ["search"]
