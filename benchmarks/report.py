"""The tables of benchmarks/README.md, rendered from the committed results (``results/<script>.json``).

    python benchmarks/report.py                    # every result there is, as Markdown
    python benchmarks/report.py throughput         # one

Each script writes its JSON when it runs in full (``make bench``); this prints what those files hold, so the README's
tables are the scripts' own numbers (``tests/test_benchmarks.py`` checks that the README shows them).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _acc(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def time_to_accuracy(result: dict) -> str:
    target = result["target"]
    rows = [[r["recipe"], f"{r['params']:,}", f"{r['seconds_per_epoch']:.1f}", r["epochs_run"],
             r["epoch_at_target"] or "never",
             "-" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.1f}",
             _acc(r["final_test_accuracy"])] for r in result["recipes"]]
    table = _table(["recipe", "params", "s/epoch", "epochs", f"first epoch at {target:.1%}",
                    f"seconds to {target:.1%}", "final test accuracy"], rows)
    ratio, (kerasio, _) = result["ratio"], result["recipes"]
    if ratio is None:
        verdict = f"mnistkit's recipe did not reach {target:.1%}."
    elif result["ratio_is_lower_bound"]:
        verdict = (f"mnistkit's recipe reached {target:.1%} at least {ratio:.2f}x sooner: the keras-io recipe did not "
                   f"reach it in its {kerasio['epochs_run']} epochs ({kerasio['seconds_total']:.0f} s).")
    else:
        verdict = f"mnistkit's recipe reached {target:.1%} {ratio:.2f}x sooner than the keras-io recipe."
    return f"{table}\n\n{verdict}"


def throughput(result: dict) -> str:
    models = result["models"]
    kinds = list(models)
    by_label = {}
    for kind in kinds:
        plain = models[kind]["results"][0]["samples_per_s"]
        for r in models[kind]["results"]:
            label = r["setting"].split(", batch")[0]
            batch = "" if label.startswith(("batch", "plain")) else f", batch {r['batch_size']}"
            by_label.setdefault(label, {})[kind] = f"{r['samples_per_s']:,} ({r['samples_per_s'] / plain:.2f}x{batch})"
    rows = [[label, *(cells.get(kind, "-") for kind in kinds)] for label, cells in by_label.items()]
    rows.append(["FLOP bound (matmul speed / training FLOPs of one image)",
                 *(f"{models[kind]['flop_bound_samples_per_s']:,}" for kind in kinds)])
    names = {"mlp": "MLP 256-128", "cnn": "keras-io CNN"}
    return (_table(["setting (samples/s, ratio to plain)", *(names.get(k, k) for k in kinds)], rows)
            + f"\n\nfloat32 matmul: {result['matmul_gflops']:.0f} GFLOP/s.")


def input_pipeline(result: dict) -> str:
    parts = []
    for model in result["models"]:
        base = model["results"][0]["seconds"]
        rows = [[w["way"], f"{w['seconds']:.1f} ({base / w['seconds']:.2f}x)", f"{w['median_epoch_s']:.2f}",
                 f"{w['slowest_epoch_s']:.2f}", "-" if w["idle_cpu_s_per_epoch"] is None
                 else f"{w['idle_cpu_s_per_epoch']:.1f}"] for w in model["results"]]
        parts.append(f"{model['model']}, {model['images']:,} images:\n\n"
                     + _table(["way", "seconds (speed-up)", "median epoch s", "slowest epoch s", "idle CPU-s an epoch"],
                              rows))
    return "\n\n".join(parts)


def seed_ensemble(result: dict) -> str:
    rows = [[f"seed {r['seed']}", f"{r['params']:,}", f"{r['seconds']:.1f}", _acc(r["val_accuracy"]),
             _acc(r["test_accuracy"])] for r in result["seeds"]]
    e = result["ensemble"]
    rows.append(["ensemble of the three", f"{3 * result['seeds'][0]['params']:,}", f"{e['seconds']:.1f}",
                 _acc(e["val_accuracy"]), _acc(e["test_accuracy"])])
    m = result["mcnemar_seed42_vs_ensemble"]
    return (_table(["model", "params", "seconds", "val accuracy", "test accuracy"], rows)
            + f"\n\nMcNemar on test: seed 42 alone right on {m['a_only']} images, the ensemble alone on "
              f"{m['b_only']}, p = {m['p_value']:.2g}.")


def modern_cnn_variants(result: dict) -> str:
    momenta = sorted({k[3:-13] for r in result["variants"] for k in r if k.startswith("ema") and "_val_" in k})
    recipe = next((r["val_accuracy"] for r in result["variants"] if r["variant"] == "recipe"), None)
    rows = [[r["variant"], f"{r['params']:,}", r["epochs"], r["batch_size"], f"{r['seconds']:.1f}",
             _acc(r["val_accuracy"]), "-" if recipe is None else f"{(r['val_accuracy'] - recipe) * 100:+.2f}",
             _acc(r["test_accuracy"]),
             *(f"{_acc(r.get(f'ema{m}_val_accuracy'))} / {_acc(r.get(f'ema{m}_test_accuracy'))}" for m in momenta)]
            for r in result["variants"]]
    parts = [_table(["variant", "params", "epochs", "batch", "seconds", "val accuracy", "val vs recipe (points)",
                     "test accuracy", *(f"EMA {m} val / test" for m in momenta)], rows)]
    for r in result["variants"]:
        tta = sorted({k.split("_")[0] for k in r if k.startswith("tta")})
        if tta:
            parts.append(f"Test-time augmentation of the {r['variant']}'s final weights (val / test): "
                         + ", ".join(f"{t} {_acc(r[f'{t}_val_accuracy'])} / {_acc(r[f'{t}_test_accuracy'])}"
                                     for t in tta)
                         + f"; without: {_acc(r['val_accuracy'])} / {_acc(r['test_accuracy'])}.")
    if result.get("not_run"):
        parts.append(f"Not run yet ({len(result['not_run'])}; `--resume` runs them): "
                     + ", ".join(f"`{name}`" for name in result["not_run"]) + ".")
    return "\n\n".join(parts)


RENDER = {"time_to_accuracy": time_to_accuracy, "throughput": throughput, "input_pipeline": input_pipeline,
          "seed_ensemble": seed_ensemble, "modern_cnn_variants": modern_cnn_variants}


def render(name: str, path: Path | None = None) -> str:
    """The Markdown for benchmark ``name``'s results (``results/<name>.json`` unless ``path``): its table(s), then
    the machine it ran on."""
    result = json.loads(Path(path or RESULTS / f"{name}.json").read_text())
    return f"{RENDER[name](result)}\n\nMeasured on {result['machine']}."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which results (default: every one there is): {', '.join(RENDER)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RENDER]
    if unknown:
        print(f"error: no benchmark named {unknown[0]!r}; choose from: {', '.join(RENDER)}", file=sys.stderr)
        return 2
    names = args.names or [n for n in RENDER if (RESULTS / f"{n}.json").is_file()]
    missing = [n for n in names if not (RESULTS / f"{n}.json").is_file()]
    if missing:
        print(f"error: no results/{missing[0]}.json yet; run: make bench BENCH={missing[0]}", file=sys.stderr)
        return 1
    for name in names:
        print(f"### {name}\n\n{render(name)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
