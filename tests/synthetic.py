"""Small learnable stand-ins for MNIST, shared by the unit tests (tests/ is on sys.path under pytest)."""
import numpy as np

from mnistkit import data


def tiny_splits(n=600, seed=0):
    """Learnable synthetic digits: class d lights up row block d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.3
    for i, d in enumerate(y):
        x[i, d * 2: d * 2 + 3, :] += 0.7
    return data.Splits(x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:], source="synthetic")
