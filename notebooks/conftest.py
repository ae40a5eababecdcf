"""pytest runs the notebooks in the quick profile unless told otherwise.

``MNISTKIT_PROFILE=full pytest --nbval-lax notebooks/`` still runs the real thing. The kernel that
nbval starts inherits this environment.
"""
import os

os.environ.setdefault("MNISTKIT_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
