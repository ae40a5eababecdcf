"""pytest runs the notebooks in the quick profile unless told otherwise.

``MNISTKIT_PROFILE=full pytest --nbval-lax notebooks/`` still runs the real thing. The kernel that
nbval starts inherits this environment.
"""
import os
import re

import nbval.kernel
import pytest
from jupyter_client.manager import KernelManager

from mnistkit.notebooks import kernel_manager_class

os.environ.setdefault("MNISTKIT_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# nbval's kernels over Unix sockets, as run-notebooks' are: two workers starting kernels at once cannot race for one
# TCP port (a fresh-clone make test here once ended with 01's kernel "died before replying to kernel_info")
nbval.kernel.KernelManager = kernel_manager_class(KernelManager)

# Solutions that read what a lesson saved (08's finalists, 07's compact CNN) run after the lessons, on their worker.
AFTER_THE_LESSONS = re.compile(r"solutions/0[89]_")


def notebook_scope(nodeid: str) -> str:
    """Which in-order queue a test belongs to: ``lessons`` (01-09, then the solutions of 08 and 09), ``solutions``
    (01-07, which read no artifacts and log no runs), or, for any other test, its own node id."""
    if ".ipynb::" not in nodeid:
        return nodeid
    if "solutions/" in nodeid and not AFTER_THE_LESSONS.search(nodeid):
        return "solutions"
    return "lessons"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``make test`` runs ``-n 2``) the notebook cells go to two queues, each run in order on one
    worker: nbval runs a notebook's cells in one kernel, 08 compares what 02-07 saved and 09 exports what 07 and 08
    saved. Every other test is its own unit, shared out to whichever worker is free."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksInOrder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return notebook_scope(nodeid)

    return NotebooksInOrder(config, log)
