"""Figures the notebooks show. Each function returns a matplotlib Figure and draws nothing globally.

Figures are made with ``matplotlib.figure.Figure`` (not pyplot), so Jupyter shows each once when a
cell ends with it, and nothing piles up in pyplot's figure list. Pass ``ax=`` to draw into your own
axes. Plots take arrays and predictions; they never call ``model.predict``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .checks import check_labels, check_positive_ints

DIGITS = tuple(range(10))


def _figure(nrows=1, ncols=1, *, size=(6, 4), ax=None, **kw):
    """Axes to draw on: the caller's ``ax`` (and its figure), or a new figure's grid."""
    if ax is not None:
        axes = np.atleast_1d(np.asarray(ax, dtype=object))
        return axes[0].figure, axes
    fig = Figure(figsize=size, layout="constrained")
    return fig, np.atleast_1d(np.asarray(fig.subplots(nrows, ncols, squeeze=False, **kw), dtype=object)).ravel()


def _show_images(axes, images, titles=None, *, cmap="gray_r", vmin=None, vmax=None):
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)


def plot_images(images, *, titles=None, ncols=10, cmap="gray_r", size_per_image=1.0, suptitle=None,
                symmetric: bool = False) -> Figure:
    """A grid of 2-d images (digits, mean digits, filters) with optional titles.

    Each image is scaled to its own range, unless ``symmetric=True``: then all share one range centred on 0, so
    with a diverging colour map (``"RdBu"``) the colour shows the sign and the size of every value (weights)."""
    check_positive_ints(ncols=ncols)
    images = np.asarray(images)
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig, axes = _figure(nrows, ncols, size=(ncols * size_per_image, nrows * size_per_image * 1.15))
    limit = float(np.abs(images).max()) if symmetric and images.size else None
    _show_images(axes, images, titles, cmap=cmap, vmin=-limit if limit else None, vmax=limit)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_digit_grid(images, labels, *, per_class=10, seed=None) -> Figure:
    """One row per digit 0-9 with ``per_class`` random examples of it."""
    check_positive_ints(per_class=per_class)
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = [rng.choice(np.flatnonzero(labels == d), per_class, replace=False) for d in DIGITS]
    fig, axes = _figure(10, per_class, size=(per_class * 0.8, 10 * 0.8))
    _show_images(axes, np.asarray(images)[np.concatenate(picks)])
    for d in DIGITS:
        axes[d * per_class].set_axis_on()
        axes[d * per_class].set(xticks=[], yticks=[], ylabel=str(d))
    return fig


def plot_class_balance(y_train, y_test, *, ax=None) -> Figure:
    """Share of each digit in the training and test sets, side by side."""
    fig, (ax,) = _figure(size=(7, 3.5), ax=ax)
    width = 0.4
    for offset, (label, y) in zip((-width / 2, width / 2), (("train", y_train), ("test", y_test))):
        share = np.bincount(np.asarray(y), minlength=10) / len(y)
        ax.bar(np.arange(10) + offset, share * 100, width, label=f"{label} ({len(y):,})")
    ax.set(xticks=range(10), xlabel="digit", ylabel="% of images", title="Class balance")
    ax.axhline(10, color="gray", lw=0.8, ls=":")
    ax.legend()
    return fig


def plot_pixel_histogram(images, *, bins=52, ax=None) -> Figure:
    """Histogram of pixel intensities (log y): most pixels are 0, most of the rest near 255."""
    fig, (ax,) = _figure(size=(6, 3.5), ax=ax)
    ax.hist(np.asarray(images).ravel(), bins=bins, color="tab:blue")
    ax.set(yscale="log", xlabel="pixel value", ylabel="pixels (log scale)", title="Pixel intensities")
    return fig


def plot_image(image, *, title=None, cmap="viridis", colorbar=True, ax=None) -> Figure:
    """One 2-d array as an image (a variance map, a mean digit, a saliency map)."""
    fig, (ax,) = _figure(size=(4, 3.5), ax=ax)
    shown = ax.imshow(np.asarray(image), cmap=cmap)
    ax.set(xticks=[], yticks=[], title=title or "")
    if colorbar:
        fig.colorbar(shown, ax=ax, shrink=0.85)
    return fig


def _histories(runs) -> dict:
    """name -> history dict, from a Run, a keras History, a dict of them, or a sequence of Runs."""
    if isinstance(runs, Mapping) and not all(isinstance(v, list) for v in runs.values()):
        return {name: _history_of(r) for name, r in runs.items()}
    if isinstance(runs, Sequence) and not isinstance(runs, (str, Mapping)):
        return {getattr(r, "name", str(i)): _history_of(r) for i, r in enumerate(runs)}
    return {getattr(runs, "name", "run"): _history_of(runs)}


def _history_of(run) -> dict:
    history = getattr(run, "history", run)
    return getattr(history, "history", history)


def plot_history(runs, *, metrics=("loss", "accuracy"), ax=None) -> Figure:
    """Plot training and validation curves for one run or several.

    Parameters
    ----------
    runs : Run, keras History, history dict, sequence of Runs, or dict of name -> Run/History
    metrics : tuple of str, default=("loss", "accuracy")
        ``val_<metric>`` is drawn dashed when present. A curve is labelled "train" or "val" only when it is one
        (``"val_accuracy"`` alone is labelled "val"; a curve such as 06's ``"best_so_far"`` by its run's name alone).
    ax : sequence of matplotlib Axes, optional
        One per metric; created when None.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    histories = _histories(runs)
    if not histories or not metrics:
        raise ValueError("nothing to plot: give at least one run and one metric")
    for name, hist in histories.items():
        for metric in (m for m in metrics if m not in hist):
            raise ValueError(f"metric {metric!r} is not in the history of {name!r}; choose from: "
                             f"{', '.join(hist) or 'nothing, it is empty'}")
    fig, axes = _figure(1, len(metrics), size=(5 * len(metrics), 3.6), ax=ax)
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for ax_, metric in zip(axes, metrics):
        for color, (name, hist) in zip(colors, histories.items()):
            epochs = np.arange(1, len(hist[metric]) + 1)
            part = "val" if metric.startswith("val_") else "train" if f"val_{metric}" in hist else ""
            ax_.plot(epochs, hist[metric], color=color, label=f"{name} {part}".strip())
            if f"val_{metric}" in hist:
                ax_.plot(epochs, hist[f"val_{metric}"], color=color, ls="--", label=f"{name} val")
        ax_.set(xlabel="epoch", ylabel=metric, title=metric)
    axes[0].legend(fontsize=8)
    return fig


def plot_confusion_matrix(y_true, y_pred, *, normalize=None, ax=None) -> Figure:
    """The confusion matrix (scikit-learn's ``ConfusionMatrixDisplay``); ``normalize`` as in sklearn."""
    from sklearn.metrics import ConfusionMatrixDisplay

    y_true, y_pred = check_labels(y_true=y_true, y_pred=y_pred)
    fig, (ax,) = _figure(size=(6.5, 5.5), ax=ax)
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=list(DIGITS), normalize=normalize, ax=ax,
                                            colorbar=False, values_format=".2f" if normalize else "d")
    ax.set_title("Confusion matrix (rows: true digit)")
    return fig


def plot_mistakes(images, y_true, proba, *, n=20, order="confident", seed=None, ncols=10) -> Figure:
    """Misclassified images titled ``true → predicted (confidence)``.

    Parameters
    ----------
    images : array (n, 28, 28)
    y_true : array of int
    proba : array (n, 10)
        Predicted class probabilities (``model.predict(x)``).
    order : {"confident", "random"}, default="confident"
        ``"confident"`` shows the mistakes the model was surest of first; ``"random"`` a seeded sample.
    """
    if order not in ("confident", "random"):
        raise ValueError(f"order={order!r} is not valid; choose one of: confident, random")
    check_positive_ints(n=n, ncols=ncols)
    proba, y_true = np.asarray(proba), np.asarray(y_true)
    y_pred, confidence = proba.argmax(1), proba.max(1)
    wrong = np.flatnonzero(y_pred != y_true)
    if order == "confident":
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    else:
        wrong = np.random.default_rng(seed).permutation(wrong)
    wrong = wrong[:n]
    titles = [f"{y_true[i]}→{y_pred[i]} ({confidence[i]:.0%})" for i in wrong]
    return plot_images(np.asarray(images)[wrong], titles=titles, ncols=min(ncols, max(len(wrong), 1)),
                       suptitle=f"{len(wrong)} of {int((y_pred != y_true).sum())} mistakes (true→predicted)")


def plot_lr_range(frame, *, ax=None) -> Figure:
    """The LR range test: loss against learning rate (log x), with the suggested rate marked."""
    fig, (ax,) = _figure(size=(6, 3.8), ax=ax)
    ax.plot(frame["lr"], frame["loss"], color="lightgray", lw=0.8, label="batch loss")
    ax.plot(frame["lr"], frame["smoothed"], color="C0", label="smoothed")
    suggested = frame.attrs.get("suggested_lr")
    if suggested:
        ax.axvline(suggested, color="C3", ls="--", label=f"suggested {suggested:.1e}")
    top = float(np.nanpercentile(frame["smoothed"], 95)) * 1.2
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", ylim=(0, top), title="Learning-rate range test")
    ax.legend()
    return fig


def plot_schedule(schedule, *, steps: int, steps_per_epoch: int | None = None, title: str = "Learning-rate schedule",
                  ax=None) -> Figure:
    """A ``keras.optimizers.schedules`` object's learning rate over ``steps`` optimizer steps (epochs on the x axis
    when ``steps_per_epoch`` is given)."""
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps={steps!r} is not valid; give the number of optimizer steps, an integer >= 1")
    if not callable(schedule):
        raise ValueError(f"schedule={schedule!r} is not a learning-rate schedule (a keras.optimizers.schedules object)")
    at = np.unique(np.linspace(0, steps, min(steps, 400) + 1).astype(int))
    rates = [float(schedule(int(step))) for step in at]
    fig, (ax,) = _figure(size=(5.5, 3.2), ax=ax)
    x = at / steps_per_epoch if steps_per_epoch else at
    ax.plot(x, rates, color="C0")
    ax.set(xlabel="epoch" if steps_per_epoch else "optimizer step (batch)", ylabel="learning rate", title=title)
    ax.grid(alpha=0.3)
    return fig


def plot_accuracy_vs_params(table, *, x="params", y="val_accuracy", label=None, hue=None, logx=True,
                            ax=None) -> Figure:
    """Scatter of accuracy against model size (or seconds), one labelled point per row of ``table``.

    ``hue`` names a column (e.g. the model family, ``"CNN"`` or ``"MLP"``) whose values get their own colours and
    a legend; drawn with seaborn's ``scatterplot``."""
    import seaborn as sns

    if hue is not None and hue not in table.columns:
        raise ValueError(f"hue={hue!r} is not a column; choose one of: {', '.join(map(str, table.columns))}")
    fig, (ax,) = _figure(size=(6.5, 4.2), ax=ax)
    names = table.index if label is None else table[label]
    sns.scatterplot(x=table[x].to_numpy(), y=table[y].to_numpy(), ax=ax, s=40,
                    hue=None if hue is None else table[hue].astype(str).to_numpy(),
                    color=None if hue is not None else "C0", legend=hue is not None)
    for name, xv, yv in zip(names, table[x], table[y]):
        ax.annotate(str(name), (xv, yv), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set(xscale="log" if logx else "linear", xlabel=x, ylabel=y, title=f"{y} vs {x}")
    ax.grid(alpha=0.3)
    return fig


def plot_bars(series, *, xlabel="", ylabel="", title="", logy=False, ax=None) -> Figure:
    """A labelled bar chart of a pandas Series (per-layer statistics, seconds per setting…)."""
    fig, (ax,) = _figure(size=(6.5, 3.6), ax=ax)
    ax.bar([str(i) for i in series.index], series.values, color="C0")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, yscale="log" if logy else "linear")
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def plot_pareto(table, *, x="params", y="test_accuracy", hue=None, ax=None) -> Figure:
    """Accuracy against size (log x), each model labelled (coloured by the ``hue`` column, if given), with the
    Pareto front drawn as a step line."""
    from .evaluate import pareto_front

    fig = plot_accuracy_vs_params(table, x=x, y=y, hue=hue, ax=ax)
    ax = fig.axes[0] if ax is None else np.atleast_1d(np.asarray(ax, dtype=object))[0]
    front = table[pareto_front(table[x], table[y])].sort_values(x)
    ax.step(front[x], front[y], where="post", color="gray", lw=1.2, ls="--", label="Pareto front", zorder=1)
    ax.legend(loc="lower right")
    return fig


def plot_heatmap(frame, *, fmt=".3f", cmap="viridis", title="", ax=None) -> Figure:
    """A labelled heatmap of a DataFrame (rows x columns), each cell annotated with its value."""
    fig, (ax,) = _figure(size=(1.0 + 0.75 * frame.shape[1], 0.9 + 0.45 * frame.shape[0]), ax=ax)
    shown = ax.imshow(frame.to_numpy(float), cmap=cmap, aspect="auto")
    ax.set(xticks=range(frame.shape[1]), xticklabels=[str(c) for c in frame.columns],
           yticks=range(frame.shape[0]), yticklabels=[str(i) for i in frame.index], title=title)
    values = frame.to_numpy(float)
    middle = np.nanmean(values)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7, color="white" if v < middle else "black")
    fig.colorbar(shown, ax=ax, shrink=0.8)
    return fig


def plot_confusion_difference(y_true, pred_a, pred_b, *, labels=("A", "B"), ax=None) -> Figure:
    """Confusion matrix of B minus that of A, off the diagonal: blue cells are confusions B makes less often."""
    from sklearn.metrics import confusion_matrix

    digits = list(DIGITS)
    diff = confusion_matrix(y_true, pred_b, labels=digits) - confusion_matrix(y_true, pred_a, labels=digits)
    np.fill_diagonal(diff, 0)
    fig, (ax,) = _figure(size=(6.5, 5.5), ax=ax)
    limit = max(1, int(np.abs(diff).max()))
    shown = ax.imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), v in np.ndenumerate(diff):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"Confusions: {labels[1]} minus {labels[0]} (off-diagonal)")
    fig.colorbar(shown, ax=ax, shrink=0.8)
    return fig


def plot_quantization(weights, integers, scales, *, bins=60, ax=None) -> Figure:
    """What int8 quantisation does to one layer's weights (09): their distribution before and after, and how far
    each one moved.

    Parameters
    ----------
    weights : array (channels, ...)
        The float32 weights, output channel first.
    integers : array of int8, same shape
        The stored integers; ``integers * scale`` of their channel is the value the int8 model uses.
    scales : array (channels,)
        One scale per output channel: one step between neighbouring levels.
    ax : pair of matplotlib Axes, optional
    """
    fig, axes = _figure(1, 2, size=(10, 3.5), ax=ax)
    weights = np.asarray(weights, dtype=np.float64)
    step = np.asarray(scales, dtype=np.float64).reshape(-1, *([1] * (weights.ndim - 1)))
    dequantized = np.asarray(integers, dtype=np.float64) * step
    edges = np.histogram_bin_edges(weights, bins=bins)
    axes[0].hist(weights.ravel(), bins=edges, alpha=0.6, label="float32")
    axes[0].hist(dequantized.ravel(), bins=edges, histtype="step", linewidth=1.5, color="C3", label="int8 × scale")
    axes[0].set(xlabel="weight value", ylabel="weights", title="the weights, before and after")
    axes[0].legend()
    axes[1].hist(((dequantized - weights) / step).ravel(), bins=np.linspace(-0.6, 0.6, 25), color="C2")
    axes[1].set(xlabel="change, in steps of its channel's scale", ylabel="weights", title="how far each weight moved")
    return fig
