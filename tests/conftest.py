"""Unit tests run offline, on tiny data, with a non-interactive matplotlib backend."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

