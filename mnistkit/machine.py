"""What a notebook ran on and how long it took, so a time is never read as another machine's."""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), or what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on a CPU-only machine)."""
    from . import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def describe() -> str:
    """``'<CPU model>, 2 cores, no GPU'`` (or the GPUs TensorFlow uses)."""
    found = gpus()
    return f"{cpu_name()}, {cores()} cores, " + (f"GPU: {', '.join(found)}" if found else "no GPU")


def footer(start: float, *, profile: str) -> str:
    """The line that ends every notebook: wall time since ``start`` (``time.perf_counter()``), profile, machine."""
    return f"Wall time: {time.perf_counter() - start:.0f} s in the {profile} profile on {describe()}"
