"""pytest runs the notebooks in the quick profile unless told otherwise.

``MNISTKIT_PROFILE=full pytest --nbval-lax notebooks/`` still runs the real thing. The kernel that
nbval starts inherits this environment.
"""
import os

import pytest

os.environ.setdefault("MNISTKIT_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``make test`` runs ``-n 2``) every notebook cell goes to one worker, in order: nbval runs a
    notebook's cells in one kernel, 08 compares what 02-07 saved and 09 exports what 07 and 08 saved. Every other
    test is its own unit, shared out to whichever worker is free."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksInOrder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "notebooks" if ".ipynb::" in nodeid else nodeid

    return NotebooksInOrder(config, log)
