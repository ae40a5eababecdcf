"""The mnistkit commands: python -m mnistkit <command> [options]; python -m mnistkit <command> --help for each.

fetch          fetch and verify MNIST into the cache, showing each source tried; one summary line.
doctor         check versions, data, hardware and disk, and predict each notebook's wall time on this machine.
predict        print the digit and confidence for each image file (PNG, JPEG, any size, either polarity).
serve          a local web page: draw a digit, see the ten probabilities as you draw.
tune           a distributed keras-tuner search: a chief and N workers on this machine.
tune-node      one chief or worker of such a search (its role from KERASTUNER_TUNER_ID), for several hosts.
leaderboard    print every logged run of the active profile, best validation accuracy first.
run-notebooks  execute every numbered notebook in place, top to bottom in a fresh kernel, printing
               each one's wall time and starting no more once one fails; --jobs N runs up to N at a
               time (default 1 in the full profile, 2 in the others).
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from . import config
from .checks import port_number
from .serve import add_arguments as add_serve_arguments
from .serve import main as serve_main


def _fetch(args) -> int:
    from . import data

    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stderr)
    try:
        mnist = data.load_mnist(args.path)
    except data.NoSourceError as exc:  # each source's reason is in the progress lines above: say them once
        print("error: could not load MNIST from any source (each one's reason is above). Remedies:\n"
              + "".join(f"  - {r}\n" for r in exc.remedies), end="", file=sys.stderr)
        return 1
    except data.MnistDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if mnist.source == "path":  # a good copy given once serves later runs offline
        try:
            data.cache_copy(mnist)
        except OSError as exc:
            print(f"error: MNIST at {mnist.location} is good, but the cache {config.cache_dir()} cannot be "
                  f"written ({exc.strerror}); set MNISTKIT_CACHE to a writable folder", file=sys.stderr)
            return 1
        log_line = f"copied into the cache {config.cache_dir()}"
    else:
        log_line = ""
    (x_train, y_train), (x_test, y_test) = mnist
    if log_line:
        logging.info(log_line)
    print(f"MNIST ready: source={mnist.source} ({mnist.location}), cache={config.cache_dir()}, "
          f"train {len(x_train)} images / {len(y_train)} labels, "
          f"test {len(x_test)} images / {len(y_test)} labels")
    return 0


def _doctor(args) -> int:
    from . import doctor

    if args.calibrate is None:
        if args.notebooks is not None:
            raise ValueError("--notebooks goes with --calibrate (its footers give the full profile's times); "
                             "leave it out to check this machine")
        return doctor.report()
    malformed = [item for item in args.calibrate if not all(item.partition("=")[::2])]
    if malformed:
        raise ValueError(f"--calibrate takes PROFILE=LOG (e.g. workshop=workshop.log), not {', '.join(malformed)}")
    pairs = dict(item.partition("=")[::2] for item in args.calibrate)
    unreadable = [f"{prof}={log}" for prof, log in pairs.items() if not Path(log).is_file()]
    if unreadable:
        raise ValueError(f"no such log: {', '.join(unreadable)}; give PROFILE=LOG, LOG being the file of what "
                         "'python -m mnistkit run-notebooks --jobs 1' printed in that profile")
    notebooks = Path(args.notebooks or "notebooks")
    if "full" not in pairs and not notebooks.is_dir():
        raise ValueError(f"{notebooks} is not a folder; give --notebooks FOLDER, the lessons whose footers give the "
                         "full profile's times, or a full=LOG")
    timings = doctor.calibrate(pairs, notebooks=notebooks)
    print(f"wrote {doctor.TIMINGS}: probe {timings['probe_s']} s on {timings['machine']}, "
          + ", ".join(f"{prof} {len(times)} notebooks" for prof, times in timings["wall_s"].items()))
    return 0


def _run_notebooks(args) -> int:
    from .notebooks import NotebookError, notebook_paths, run_series, side_by_side_line

    if not Path(args.folder).is_dir():
        raise ValueError(f"{args.folder} is not a folder; give the folder of the notebooks (default: notebooks)")
    paths = [p for p in notebook_paths(args.folder) if not args.only or p.name.startswith(tuple(args.only))]
    if not paths:
        only = f" whose names start with {' or '.join(args.only)}" if args.only else ""
        raise ValueError(f"no numbered notebooks (NN_name.ipynb){only} in {args.folder}")
    prof, failed_dir = config.profile(), config.artifacts_dir() / "failed-notebooks"
    jobs = min(args.jobs or config.RUN_JOBS[prof.name], len(paths))
    if jobs > 1:  # doctor --calibrate refuses such a log: a notebook's time beside another is not its time alone
        print(side_by_side_line(jobs), flush=True)

    try:  # each notebook that fails is named as it does (two side by side may both fail)
        total = run_series(paths, jobs=jobs, failed_dir=failed_dir,
                           started=lambda path: print(f"{path.name:<34} running ({prof.name} profile) ...", flush=True),
                           finished=lambda path, seconds: print(f"{path.name:<34} {seconds:8.1f} s", flush=True),
                           failed=lambda path, error: print(f"{path.name:<34} FAILED: {error}", file=sys.stderr,
                                                            flush=True))
    except NotebookError:
        return 1
    print(f"{'all notebooks':<34} {total:8.1f} s")
    if prof.name != "full":  # the committed lessons hold full-profile outputs: say they were written over
        print(f"{args.folder} now holds the {prof.name} profile's outputs, saved in place (in a git clone, "
              f"git restore {args.folder} brings back the committed ones)")
    return 0


def _leaderboard(args) -> int:
    import pandas as pd

    from . import results

    with warnings.catch_warnings(record=True) as caught:  # skipped lines: one line each, not Python's warning format
        warnings.simplefilter("always")
        board = results.leaderboard(notebook=args.notebook)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    logged = board
    if board.empty and args.notebook is not None:  # only then read the log again, for the notebooks it does have
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # already said above
            logged = results.leaderboard()
    if logged.empty and caught:  # lines there, none readable: a damaged log, not a new one
        print(f"error: no readable runs in {results.log_path()}; move it aside and rerun a notebook to start a new "
              f"log", file=sys.stderr)
        return 1
    if board.empty and not logged.empty:
        notebooks = sorted(logged.get("notebook", pd.Series(dtype=object)).dropna().astype(str).unique())
        print(f"no runs from a notebook starting with {args.notebook!r} in {results.log_path()}; it has runs "
              f"from: {', '.join(notebooks) or 'no named notebook'}")
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(board.to_string(index=False) if not board.empty else f"no runs logged yet in {results.log_path()}")
    return 0


def _predict(args) -> int:
    model_path = args.model or config.default_model()
    if model_path is None:
        print(f"error: {config.no_model_message()}", file=sys.stderr)
        return 2
    from .deploy import ModelLoadError, check_classifier, load_model
    from .images import predict_files

    try:
        model = load_model(model_path)
        check_classifier(model, where=str(model_path))
        results, errors = predict_files(model, args.images, invert=args.invert)
    except (ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, digit, confidence in results:
        print(f"{path}: {digit} ({confidence:.1%})")
    for path, message in errors:
        print(f"{path}: error: {message}", file=sys.stderr)
    return 1 if errors else 0


def _tune(args) -> int:
    import pandas as pd

    from .distributed import run_search

    try:
        table = run_search(workers=args.workers, port=args.oracle_port, tuner=args.tuner, max_trials=args.max_trials,
                           epochs=args.epochs, train_size=args.train_size, seed=args.seed, directory=args.directory)
    except KeyboardInterrupt:
        print("interrupted: stopped the chief and every worker", file=sys.stderr)
        return 130
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False) if not table.empty else "no trials were recorded")
    return 0 if not table.empty else 1


def _tune_node(args) -> int:
    from .distributed import run_node

    run_node(directory=Path(args.directory), project=args.project, tuner=args.tuner, max_trials=args.max_trials,
             epochs=args.epochs, train_size=args.train_size, seed=args.seed, overwrite=args.overwrite,
             chief_timeout=args.chief_timeout)
    return 0


def _number(kind, ok, what: str):
    """An argparse type: ``kind(text)`` where ``ok`` accepts it, else one line saying what was expected."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


_positive_int = _number(int, lambda value: value >= 1, "a positive integer")
_seed = _number(int, lambda value: value >= 0, "a non-negative integer")
_seconds = _number(float, lambda value: 0 < value < float("inf"), "a number of seconds > 0")
_port = _number(port_number, lambda value: value is not None, "a TCP port (1 to 65535)")


def _add_search_options(parser, *, directory_required: bool) -> None:
    parser.add_argument("--tuner", choices=config.TUNERS, default="random")
    parser.add_argument("--max-trials", type=_positive_int, default=6,
                        help="trials for random/bayesian search (default 6)")
    parser.add_argument("--epochs", type=_positive_int, default=3,
                        help="epochs per trial (Hyperband: the most) (default 3)")
    parser.add_argument("--train-size", type=_positive_int, default=None,
                        help="training images per trial (default all)")
    parser.add_argument("--seed", type=_seed, default=42)
    parser.add_argument("--directory", required=directory_required,
                        help="where the search is kept: the same folder for every node" if directory_required else
                        "where the search is kept (default artifacts/<profile>/tuning)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mnistkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch and verify MNIST into the cache")
    fetch.add_argument("--path", help="an mnist.npz or a folder with the four IDX files (default: MNISTKIT_DATA)")
    fetch.set_defaults(func=_fetch)
    doctor = sub.add_parser("doctor", help="is this machine ready? versions, data, hardware, predicted wall times")
    doctor.add_argument("--calibrate", nargs="+", metavar="PROFILE=LOG",
                        help="maintainers: rewrite timings.json from run-notebooks logs measured on this machine, "
                             "one notebook at a time (--jobs 1)")
    doctor.add_argument("--notebooks", help="with --calibrate: the lessons whose footers give the full profile's "
                                            "times (default: notebooks)")
    doctor.set_defaults(func=_doctor)
    predict = sub.add_parser("predict", help="predict the digit in each image file")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--model", help=config.MODEL_HELP)
    predict.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                         help="digit polarity: auto-detect (default), or force dark-on-light (yes) / "
                              "light-on-dark (no)")
    predict.set_defaults(func=_predict)
    serve = sub.add_parser("serve", help="a local page: draw a digit, see the ten probabilities")
    add_serve_arguments(serve)
    serve.set_defaults(func=serve_main)
    tune = sub.add_parser("tune", help="distributed search: a chief and N workers on this machine")
    tune.add_argument("--workers", type=_positive_int, default=2,
                      help="workers to start (at most 4 per CPU that os.cpu_count() counts)")
    tune.add_argument("--oracle-port", type=_port, default=None, help="the chief's port (default: a free one)")
    _add_search_options(tune, directory_required=False)
    tune.set_defaults(func=_tune)
    node = sub.add_parser("tune-node", help="one chief or worker (role from KERASTUNER_TUNER_ID)")
    node.add_argument("--project", required=True, help="the search's name, a plain folder name; the same on every node")
    node.add_argument("--overwrite", action="store_true",
                      help="delete an earlier search of this project and start over (default: resume it)")
    node.add_argument("--chief-timeout", type=_seconds, default=120,
                      help="seconds a worker waits for the chief before it gives up (default 120)")
    _add_search_options(node, directory_required=True)
    node.set_defaults(func=_tune_node)
    board = sub.add_parser("leaderboard", help="print the logged runs, best validation accuracy first")
    board.add_argument("--notebook", help="only runs from this notebook (or name prefix such as 02)")
    board.set_defaults(func=_leaderboard)
    run = sub.add_parser("run-notebooks", help="execute the numbered notebooks in place")
    run.add_argument("folder", nargs="?", default="notebooks")
    run.add_argument("--only", nargs="+", metavar="PREFIX",
                     help="only notebooks whose names start so, e.g. --only 04 05")
    run.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                     help="notebooks run at a time, where their metadata says they read nothing of the others' "
                          "(default: 1 in the full profile, 2 in the others)")
    run.set_defaults(func=_run_notebooks)
    for command in sub.choices.values():  # an unknown option points to the help of the command it was given to
        command.set_defaults(command_parser=command)
    return parser


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block: "error: argument --workers: '0' is not ..."
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def main(argv=None) -> int:
    """Run one command. Bad arguments, environment values and inputs end in one line on stderr and exit code 2."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    # PIL warns on stderr of images past 89 million pixels; predict's and serve's own, lower limits refuse them
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    try:
        config.profile()  # MNISTKIT_PROFILE is checked for every command, before any work
        return args.func(args)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        message = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"error: {message[0]}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # e.g. `python -m mnistkit` with a Python that lacks the installed packages
        if (exc.name or "").partition(".")[0] == "mnistkit":
            raise
        print(f"error: No module named {exc.name!r}: this Python ({sys.executable}) lacks mnistkit's packages; run "
              f".venv/bin/python -m mnistkit {args.command} (make setup installs them there), or activate .venv",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, and the shell's exit code for SIGINT
        print(f"interrupted: {args.command} stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
