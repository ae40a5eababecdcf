"""``python -m mnistkit <command>`` as a user types it, for the tests of what commands print and exit with."""
import os
import subprocess
import sys
import time


def run_mnistkit(*args, env=None, timeout=60, cwd=None, drop=()):
    """Run one command; the result has ``returncode``, ``stdout``, ``stderr`` and ``seconds`` (its wall time).

    ``env`` adds to (or overrides) this process's environment; ``drop`` removes variables from it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **{name: str(value) for name, value in (env or {}).items()}}
    for name in drop:
        env.pop(name, None)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mnistkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
    done.seconds = time.monotonic() - start
    return done
