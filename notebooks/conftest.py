"""pytest runs the notebooks in the quick profile unless told otherwise.

``MNISTKIT_PROFILE=full pytest --nbval-lax notebooks/`` still runs the real thing. The kernel that
nbval starts inherits this environment.
"""
import os

os.environ.setdefault("MNISTKIT_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_collection_modifyitems(items):
    """Keep every notebook on one pytest-xdist worker, in order (``make test`` runs ``-n 2 --dist loadgroup``):
    08 compares what 02-07 saved, 09 exports what 07 and 08 saved. The tests in ``tests/`` share the other worker."""
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group("notebooks"))
