"""The notebooks as a learner uses them: edit only the 'Your turn' cell, rerun, find the run on the leaderboard."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

from mnistkit import data, results
from mnistkit.notebooks import notebook_paths

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def your_turn_index(nb) -> int:
    found = [i for i, cell in enumerate(nb.cells) if "your-turn" in cell.metadata.get("tags", [])]
    assert len(found) == 1, f"expected exactly one cell tagged 'your-turn', found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", [p for p in notebook_paths(NOTEBOOKS) if p.name[:2] in {"02", "03", "04", "05"}],
                         ids=lambda p: p.stem)
def test_every_your_turn_setting_is_used_below_it(path):
    nb = nbformat.read(path, as_version=4)
    i = your_turn_index(nb)
    assigned = [t.id for node in ast.parse(nb.cells[i].source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    below = "\n".join(c.source for c in nb.cells[i + 1:] if c.cell_type == "code")
    assert assigned and all(re.search(rf"\b{name}\b", below) for name in assigned), assigned


def quick_notebook(name: str, tmp_path, monkeypatch):
    """The notebook ``name`` and a client to run its cells in the quick profile, logging under ``tmp_path``."""
    from nbclient import NotebookClient

    try:
        data.load_mnist(sources=("path", "cache", "keras-cache"))
    except data.MnistDataError:
        pytest.skip("MNIST is not fetched yet (run: python -m mnistkit fetch)")
    monkeypatch.setenv("MNISTKIT_PROFILE", "quick")
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    return nb, client


def test_learner_rerun_of_your_turn_reaches_the_leaderboard(tmp_path, monkeypatch):
    nb, client = quick_notebook("02_baseline.ipynb", tmp_path, monkeypatch)
    i = your_turn_index(nb)
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        before = results.read_records(tmp_path / results.LOG_NAME)
        edited = re.sub(r'NAME = ".*"', 'NAME = "learner-mlp-32"', nb.cells[i].source)
        edited = re.sub(r"HIDDEN = \(.*\)", "HIDDEN = (32,)", edited)
        edited = re.sub(r"EPOCHS = .*", "EPOCHS = 1", edited)
        assert edited.count("learner-mlp-32") == 1 and "(32,)" in edited and "EPOCHS = 1" in edited
        nb.cells[i].source = edited
        for index in range(i, len(nb.cells)):  # "rerun from here down"
            client.execute_cell(nb.cells[index], index)
    after = results.read_records(tmp_path / results.LOG_NAME)
    assert len(after) == len(before) + 1
    mine = after[-1]
    assert mine["name"] == "learner-mlp-32" and mine["notebook"] == "02_baseline" and mine["epochs"] == 1
    assert mine["params"] == 28 * 28 * 32 + 32 + 32 * 10 + 10
    assert "learner-mlp-32" in set(results.leaderboard(path=tmp_path / results.LOG_NAME)["name"])


def demo_output(path: Path, tag: str) -> str:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged {tag!r}, found {len(cells)}"
    return "".join(o.get("text", "") for o in cells[0].get("outputs", []) if o.get("output_type") == "stream")


def test_the_committed_predict_demo_shows_a_digit_for_every_file():
    """08 writes six digit PNGs and runs `predict` on them; its committed output must show six predictions."""
    shown = demo_output(NOTEBOOKS / "08_final_comparison.ipynb", "predict-demo")
    predicted = re.findall(r"^digit_\d+_true_(\d)\.png: (\d) \(\d+\.\d%\)$", shown, flags=re.M)
    assert len(predicted) == 6, f"the committed predict demo shows {len(predicted)} predictions:\n{shown!r}"
    assert "error" not in shown



def test_learner_edit_of_07s_cnn_layers_reaches_the_leaderboard(tmp_path, monkeypatch):
    """07's Your turn: change the layers, rerun the two cells (after the cells that define what they use), and the
    run is on the leaderboard that 08 reads."""
    nb, client = quick_notebook("07_cnn.ipynb", tmp_path, monkeypatch)
    i = your_turn_index(nb)
    needed = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code" and
              cell.source.startswith(("%matplotlib", "data = mk.data.load_mnist_splits", "def fit(", "def conv_block("))]
    assert len(needed) == 4, needed
    edited = re.sub(r'NAME = ".*"', 'NAME = "learner-cnn"', nb.cells[i].source)
    edited = re.sub(r"STEM = .*", "STEM = None", edited)
    edited = re.sub(r"FILTERS = \(.*\)(.*)", r"FILTERS = (8,)\1", edited)
    edited = re.sub(r"EPOCHS = .*", "EPOCHS = 1", edited)
    assert "learner-cnn" in edited and "FILTERS = (8,)" in edited and "STEM = None" in edited
    nb.cells[i].source = edited
    with client.setup_kernel():
        for index in [*needed, i, i + 1]:
            client.execute_cell(nb.cells[index], index)
    mine = results.read_records(tmp_path / results.LOG_NAME)[-1]
    conv, batch_norm, dense = 3 * 3 * 8, 4 * 8, 14 * 14 * 8 * 10 + 10
    assert mine["name"] == "learner-cnn" and mine["notebook"] == "07_cnn" and mine["epochs"] == 1
    assert mine["params"] == conv + batch_norm + dense
    assert "learner-cnn" in set(results.leaderboard(path=tmp_path / results.LOG_NAME)["name"])
