"""Unit tests run offline, on tiny data, with a non-interactive matplotlib backend."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a page in headless Chromium (needs: apt-get install chromium "
                                       "chromium-driver; pip install selenium)")
