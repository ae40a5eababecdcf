"""``python -m mnistkit doctor``: is this machine ready for the series, and how long will each notebook take here?

It checks the installed versions against ``requirements.lock``, verifies the data cache (SHA-256, no download),
names the CPU, cores and GPU, checks free disk, and times a short speed probe. The probe's time against the
probe time of the machine in ``timings.json`` scales that machine's measured wall times to this one.
``python -m mnistkit doctor --calibrate full=LOG workshop=LOG ...`` rewrites ``timings.json`` from
``run-notebooks --jobs 1`` logs measured on this machine, one notebook at a time (for ``full`` the committed
notebooks' footers serve too); its optional ``notes`` ({profile: text}) say how those times were measured, and the
report prints them.
"""
from __future__ import annotations

import json
import logging
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import config

TIMINGS = Path(__file__).with_name("timings.json")
# A different version of one of these changes what the notebooks print: the workshop should not start on it.
KEY_PACKAGES = ("tensorflow", "keras", "keras-tuner", "numpy", "scikit-learn", "pandas", "matplotlib", "nbclient",
                "ipykernel")
PYTHONS = ((3, 11), (3, 12))  # setup.cfg's python_requires, inclusive
MIN_FREE_GIB = 2.0  # a full run's artifacts and checkpoints stay well under 1 GiB; the rest is headroom
REMEDY_VERSIONS = "make setup (or: pip install -r requirements.lock)"
_LOG_LINE = re.compile(r"^(\d\d_\w+)\.ipynb\s+([\d.]+) s$", re.M)
_FOOTER = re.compile(r"Wall time: (\d+) s in the (\w+) profile")


@dataclass(frozen=True)
class Check:
    """One line of the report; ``ok=False`` stops the workshop and comes with what to do."""

    name: str
    ok: bool
    line: str
    remedy: str = ""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """``{package: version}`` from a pip ``name==version`` lock file, comments skipped."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = version.strip()
    return pins


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_versions(lock: Path | None = None, *, version=installed_version, python=sys.version_info) -> Check:
    """Python within setup.cfg's range; every pin in ``requirements.lock`` installed, key packages at its version."""
    shown = f"Python {python[0]}.{python[1]}.{python[2]}"
    if not PYTHONS[0] <= tuple(python[:2]) <= PYTHONS[1]:
        return Check("versions", False, f"{shown}: mnistkit needs Python 3.11 or 3.12",
                     "install Python 3.11 and run make setup again")
    lock = lock or config.project_dir() / "requirements.lock"
    if not lock.is_file():
        keys = ", ".join(f"{name} {version(name) or 'missing'}" for name in KEY_PACKAGES[:3])
        return Check("versions", True, f"{shown}, {keys}; no {lock.name} in {lock.parent} to compare with")
    pins = read_lock(lock)
    have = {name: version(name) for name in pins}
    missing = [name for name, found in have.items() if found is None]
    wrong = {name: found for name, found in have.items() if found is not None and found != pins[name]}
    stopping = missing + [name for name in wrong if name in KEY_PACKAGES]
    keys = ", ".join(f"{name} {have.get(name) or version(name) or 'missing'}" for name in KEY_PACKAGES[:3])
    if stopping:
        detail = "; ".join(f"{name} {have[name] or 'missing'} (lock: {pins[name]})" for name in stopping)
        return Check("versions", False, f"{shown}; not as {lock.name} pins: {detail}", REMEDY_VERSIONS)
    others = f"; {len(wrong)} other packages differ from the lock ({', '.join(sorted(wrong))})" if wrong else ""
    return Check("versions", True, f"{shown}, {keys}: the {len(pins)} pins of {lock.name} are installed{others}")


def check_data() -> Check:
    """The MNIST cache (or ``MNISTKIT_DATA``) verified by SHA-256, without downloading anything."""
    from . import data

    logger = logging.getLogger(data.__name__)
    level, logger.level = logger.level, logging.WARNING
    try:
        mnist = data.load_mnist(sources=("path", "cache"))
    except data.MnistDataError as exc:
        first = str(exc).splitlines()[0]
        own = config.data_path()
        if own is not None:  # the user's own copy is refused first, and fetch would refuse it the same way
            return Check("data", False, f"MNISTKIT_DATA={own} is not MNIST as published ({first})",
                         "point MNISTKIT_DATA at a good mnist.npz or IDX folder, or unset it and run: "
                         "python -m mnistkit fetch")
        return Check("data", False, f"MNIST is not in the cache {config.cache_dir()} ({first})",
                     "python -m mnistkit fetch")
    finally:
        logger.level = level
    return Check("data", True, f"MNIST verified (SHA-256) from {mnist.source}: {mnist.location}")


def check_disk(folder: Path | None = None, *, minimum_gib: float = MIN_FREE_GIB) -> Check:
    """Free space where the artifacts go."""
    folder = folder or config.artifacts_dir()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    free = shutil.disk_usage(existing).free / 2**30
    line = f"{free:.1f} GiB free in {existing} (artifacts need under 1 GiB)"
    return Check("disk", free >= minimum_gib, line, f"free at least {minimum_gib:.0f} GiB there, "
                 "or set MNISTKIT_ARTIFACTS to a folder on a larger disk")


def speed_probe(*, repeats: int = 5) -> float:
    """Seconds for one small CNN epoch and two MLP epochs on 4 096 synthetic images: the fastest of ``repeats``
    (other jobs only ever slow a run down, so the fastest of several short tries is the steadiest figure).

    The notebooks spend their time in such fits; a machine that runs this twice as slowly runs them about twice as
    slowly. Takes about 5 s on a 2-core CPU, TensorFlow's import not counted."""
    from . import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((4096, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 4096)
    keras.utils.set_random_seed(0)
    cnn = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"),
                            keras.layers.MaxPooling2D(), keras.layers.Conv2D(64, 3, activation="relu"),
                            keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    mlp = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(512, "relu"),
                            keras.layers.Dense(10, "softmax")])
    runs = ((cnn, 1), (mlp, 2))
    for model, _ in runs:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)  # tracing, once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for model, epochs in runs:
            model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
        times.append(time.perf_counter() - start)
    return min(times)


def load_timings(path: Path = TIMINGS) -> dict:
    return json.loads(path.read_text())


def predict_wall_times(probe_s: float, timings: dict) -> dict[str, dict[str, float]]:
    """``{profile: {notebook: seconds}}`` on this machine: the reference machine's times scaled by the probes."""
    ratio = probe_s / timings["probe_s"]
    return {prof: {nb: s * ratio for nb, s in times.items()} for prof, times in timings["wall_s"].items()}


def wall_times_from_log(text: str) -> dict[str, float]:
    """``{notebook: seconds}`` from what ``run-notebooks`` printed."""
    return {name: float(seconds) for name, seconds in _LOG_LINE.findall(text)}


def wall_times_from_footers(folder: Path, profile: str = "full") -> dict[str, float]:
    """``{notebook: seconds}`` from the footers of the committed notebooks that ran in ``profile``."""
    import nbformat

    from .notebooks import notebook_paths

    found = {}
    for path in notebook_paths(folder):
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception as exc:  # not JSON, not a notebook
            raise ValueError(f"{path}: not a notebook, so no footer to read ({type(exc).__name__})") from None
        text = "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))
        footer = _FOOTER.search(text)
        if footer and footer.group(2) == profile:
            found[path.stem] = float(footer.group(1))
    return found


def _read_log(path: Path) -> str:
    from .notebooks import SIDE_BY_SIDE

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text log; give what 'python -m mnistkit run-notebooks' printed") from None
    if SIDE_BY_SIDE.search(text):
        raise ValueError(f"{path}: run-notebooks ran notebooks side by side there, so their times are not each "
                         "one's alone; calibrate from a run with --jobs 1")
    return text


def calibrate(sources: dict[str, str], *, notebooks: Path, path: Path = TIMINGS, probe=speed_probe) -> dict:
    """Write ``timings.json`` from ``{profile: run-notebooks log}`` (``full`` defaults to the footers) and a probe
    timed now, on the machine those times were measured on."""
    from .files import atomic_write_bytes
    from .machine import describe

    unknown = sorted(set(sources) - set(config.PROFILES))
    if unknown:
        raise ValueError(f"unknown profiles {unknown}; valid profiles: {', '.join(config.PROFILES)}")
    wall = {prof: wall_times_from_log(_read_log(Path(log))) for prof, log in sources.items()}
    if "full" not in wall:
        wall["full"] = wall_times_from_footers(notebooks)
    empty = [prof for prof, times in wall.items() if not times]
    if empty:
        raise ValueError(f"no notebook wall times found for {', '.join(empty)}")
    timings = {"machine": describe(), "probe_s": round(probe(), 2),
               "wall_s": {prof: wall[prof] for prof in config.PROFILES if prof in wall}}
    atomic_write_bytes(path, (json.dumps(timings, indent=1) + "\n").encode())
    return timings


def report(*, probe=speed_probe, timings_path: Path = TIMINGS, out=print) -> int:
    """Print the checks, the predicted wall times and one verdict line; 0 when ready, 1 when something would stop
    the workshop."""
    from .machine import describe

    checks = [check_versions(), check_data()]
    checks.append(Check("hardware", True, f"{describe()} ({platform.system()})"))
    checks.append(check_disk())
    for check in checks:
        out(f"{check.name:<9} {'ok  ' if check.ok else 'FAIL'} {check.line}")
        if not check.ok:
            out(f"{'':<14}fix: {check.remedy}")
    try:
        timings = load_timings(timings_path)
        reference = float(timings["probe_s"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        checks.append(Check("speed", False, f"cannot read {timings_path} ({type(exc).__name__}): no predictions",
                            "reinstall mnistkit (make setup, or pip install .) to restore its timings.json"))
        out(f"{'speed':<9} FAIL {checks[-1].line}")
        out(f"{'':<14}fix: {checks[-1].remedy}")
        return _verdict(checks, {}, out)
    probe_s = probe()
    out(f"{'speed':<9} ok   probe {probe_s:.1f} s, {reference:.1f} s on the reference machine "
        f"({timings['machine']}): {probe_s / reference:.2f}x its wall times")
    predicted = predict_wall_times(probe_s, timings)
    profiles = list(predicted)
    out("predicted wall time here, seconds:")
    out(f"  {'notebook':<28}" + "".join(f"{prof:>10}" for prof in profiles))
    for nb in sorted({nb for times in predicted.values() for nb in times}):
        out(f"  {nb:<28}" + "".join(f"{predicted[p][nb]:>10.0f}" if nb in predicted[p] else f"{'?':>10}"
                                    for p in profiles))
    out(f"  {'all notebooks':<28}" + "".join(f"{sum(predicted[p].values()):>10.0f}" for p in profiles))
    for prof, note in timings.get("notes", {}).items():  # how the reference times were measured
        out(f"  {prof}: {note}")
    return _verdict(checks, predicted, out)


def _verdict(checks: list[Check], predicted: dict, out) -> int:
    failed = [check for check in checks if not check.ok]
    if failed:
        out(f"verdict: NOT READY: {'; '.join(f'{c.name}: {c.remedy}' for c in failed)}")
        return 1
    out(f"verdict: ready; the workshop profile's notebooks take about "
        f"{sum(predicted.get('workshop', {}).values()) / 60:.0f} min here one after another (MNISTKIT_PROFILE=workshop "
        "make run runs some side by side: less)")
    return 0
