"""Command line: ``python -m mnistkit fetch``.

fetch          fetch and verify MNIST into the cache, showing each source tried; one summary line.
leaderboard    print every logged run of the active profile, best validation accuracy first.
run-notebooks  execute every numbered notebook in place, top to bottom in a fresh kernel, printing
               each one's wall time and stopping at the first that fails.
"""
from __future__ import annotations

import argparse
import logging
import sys


def _fetch(args) -> int:
    from . import config, data

    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stderr)
    try:
        mnist = data.load_mnist(args.path)
    except data.MnistDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (x_train, y_train), (x_test, y_test) = mnist
    print(f"MNIST ready: source={mnist.source} ({mnist.location}), cache={config.cache_dir()}, "
          f"train {len(x_train)} images / {len(y_train)} labels, "
          f"test {len(x_test)} images / {len(y_test)} labels")
    return 0


def _run_notebooks(args) -> int:
    from . import config
    from .notebooks import execute_notebook, notebook_paths

    paths = notebook_paths(args.folder)
    if not paths:
        print(f"no numbered notebooks (NN_name.ipynb) in {args.folder}")
        return 0
    prof, failed = config.profile(), config.artifacts_dir() / "failed-notebooks"
    total = 0.0
    for path in paths:
        print(f"{path.name:<34} running ({prof.name} profile) ...", flush=True)
        try:
            seconds = execute_notebook(path, failed_dir=failed)
        except Exception as exc:
            print(f"{path.name:<34} FAILED: {type(exc).__name__}: {str(exc)[-2000:]}\n"
                  f"the failing copy is in {failed}; {path} was left as it was", file=sys.stderr)
            return 1
        total += seconds
        print(f"{path.name:<34} {seconds:8.1f} s", flush=True)
    print(f"{'all notebooks':<34} {total:8.1f} s")
    return 0


def _leaderboard(args) -> int:
    import pandas as pd

    from . import results

    board = results.leaderboard(notebook=args.notebook)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(board.to_string(index=False) if not board.empty else f"no runs logged yet in {results.log_path()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnistkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch and verify MNIST into the cache")
    fetch.add_argument("--path", help="an mnist.npz or a folder with the four IDX files (default: MNISTKIT_DATA)")
    fetch.set_defaults(func=_fetch)
    board = sub.add_parser("leaderboard", help="print the logged runs, best validation accuracy first")
    board.add_argument("--notebook", help="only runs from this notebook (or name prefix such as 02)")
    board.set_defaults(func=_leaderboard)
    run = sub.add_parser("run-notebooks", help="execute the numbered notebooks in place")
    run.add_argument("folder", nargs="?", default="notebooks")
    run.set_defaults(func=_run_notebooks)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
