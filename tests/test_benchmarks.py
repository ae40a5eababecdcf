"""The benchmark scripts' --smoke modes: each runs end to end on a tiny budget and writes its JSON."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistkit import data

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(autouse=True)
def needs_mnist():
    try:
        data.load_mnist(sources=("path", "cache", "keras-cache"))
    except data.MnistDataError:
        pytest.skip("MNIST is not fetched yet (run: python -m mnistkit fetch)")


def run(script, out, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MNISTKIT_ARTIFACTS": str(tmp_path / "artifacts")}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def test_time_to_accuracy_smoke(tmp_path):
    stdout, result = run("time_to_accuracy.py", tmp_path / "tta.json", tmp_path)
    assert "seconds to 99.2%" in stdout and "ratio (a)/(b)" in stdout
    assert [r["recipe"] for r in result["recipes"]] == ["keras-io mnist_convnet", "mnistkit FAST_CNN"]
    assert all(len(r["per_epoch"]) == 1 and 0 <= r["final_test_accuracy"] <= 1 for r in result["recipes"])
    assert result["recipes"][0]["params"] == 34_826  # the keras-io model as documented
    assert result["recipes"][1]["params"] == 29_658  # mnistkit.recipes.FAST_CNN
    assert "34,826" in stdout and "29,658" in stdout


def test_throughput_smoke(tmp_path):
    stdout, result = run("throughput.py", tmp_path / "tp.json", tmp_path)
    assert "FLOP bound" in stdout and "x plain" in stdout
    for kind in ("mlp", "cnn"):
        rows = result["models"][kind]["results"]
        assert rows[0]["setting"].startswith("plain model.fit") and all(r["samples_per_s"] > 0 for r in rows)
        assert result["models"][kind]["flop_bound_samples_per_s"] > rows[0]["samples_per_s"]
