"""The notebooks as a learner uses them: edit only the 'Your turn' cell, rerun, find the run on the leaderboard."""
import ast
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from mnistkit import results
from mnistkit.notebooks import notebook_paths

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def require_committed_outputs(*paths: Path) -> None:
    """Skip a test of what the repository ships when ``make run`` has rewritten one of ``paths`` in place (the
    outputs are then the learner's own run, in any profile, on any machine); CI's clean clone always runs it, and so
    does a copy outside git."""
    try:
        diff = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *map(str, paths)], cwd=NOTEBOOKS.parent,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return
    if diff.returncode == 1:  # 0: as committed; 128: not a git checkout
        pytest.skip("checks the committed outputs, and make run has rewritten notebooks/ in place: "
                    "git stash (or git restore notebooks) to run it")


def your_turn_index(nb) -> int:
    found = [i for i, cell in enumerate(nb.cells) if "your-turn" in cell.metadata.get("tags", [])]
    assert len(found) == 1, f"expected exactly one cell tagged 'your-turn', found {len(found)}"
    return found[0]


# what each lesson must show as Keras, where it is taught (besides a visible compile and fit)
KERAS_IN_VIEW = {"02": ["keras.Sequential("], "03": ["layers.Dense("], "04": ["optimizers."],
                 "05": ["layers.Dropout(", "layers.BatchNormalization(", "keras.regularizers.L2("],
                 "06": ["def build(self, hp)"], "07": ["layers.Conv2D(", "layers.BatchNormalization("]}


@pytest.mark.parametrize("lesson", sorted(KERAS_IN_VIEW))
def test_each_lesson_writes_its_models_compile_and_fit_as_keras(lesson):
    """A learner reads the Keras being taught, not a helper that hides it: no model DSL, compile and fit in view."""
    path = next(p for p in notebook_paths(NOTEBOOKS) if p.name.startswith(lesson))
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    missing = [s for s in [".compile(", ".fit(", *KERAS_IN_VIEW[lesson]] if s not in code]
    assert not missing, f"{path.name} does not show {missing}"
    assert "mk.recipes" not in code and "mk.models.build_" not in code, f"{path.name} builds a model out of sight"


def test_the_lessons_that_run_side_by_side_are_the_ones_that_say_so():
    """make run in the workshop profile runs 01-05 two at a time (06 after 05, whose runs it compares); 07 and 08
    compare what the others logged and saved and say nothing in their metadata, so they wait for every lesson before
    them; 09 loads the models 05-07 saved (07's CNNs; its Your turn any of them), so it can run beside 08."""
    from mnistkit.notebooks import waits_for

    lessons = notebook_paths(NOTEBOOKS)
    waits = {path.name[:2]: [p.name[:2] for p in before] for path, before in waits_for(lessons).items()}
    assert waits == {"01": [], "02": [], "03": [], "04": [], "05": [], "06": ["05"],
                     "07": ["01", "02", "03", "04", "05", "06"], "08": ["01", "02", "03", "04", "05", "06", "07"],
                     "09": ["05", "06", "07"]}


@pytest.mark.parametrize("path", [p for p in notebook_paths(NOTEBOOKS)
                                  if nbformat.read(p, as_version=4).metadata.get("mnistkit", {}).get("reads")
                                  is not None], ids=lambda p: p.stem)
def test_a_lesson_that_lists_what_it_reads_reads_nothing_else_of_the_others(path):
    """Its metadata ``mnistkit.reads`` lets it run beside the lessons it does not list: so it must not read the runs
    they log (a leaderboard of notebooks it does not list, latest_runs, read_records)."""
    listed = nbformat.read(path, as_version=4).metadata["mnistkit"]["reads"]
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert not re.search(r"\b(latest_runs|read_records)\(", code), path.name
    for call in re.finditer(r"leaderboard\((.*)", code):  # to the end of its line
        notebooks = re.search(r"notebook=(\([^)]*\)|\w+)", call.group(1))
        assert notebooks, f"{path.name}: {call.group(0)} reads every notebook's runs"
        names = [n.strip() for n in notebooks.group(1).strip("()").split(",") if n.strip()]
        others = [n for n in names if n != "NOTEBOOK" and n.strip("'\"")[:2] not in listed]
        assert not others, f"{path.name}: {call.group(0)} reads {others}, which its metadata does not list"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("**/0*.ipynb")), ids=lambda p: p.stem)
def test_tensorflow_is_imported_quietly_before_keras_in_view(path):
    """Without the call, TensorFlow's C++ start-up lines land in the first cell as stderr; the call is in view."""
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    if "import keras" not in code and "from keras" not in code:
        return
    quiet = code.find("mk.import_tensorflow_quietly()")
    assert 0 <= quiet < min(i for i in (code.find("import keras"), code.find("from keras")) if i >= 0), path.name


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
    """The notebook ``name`` and a client to run its cells in the quick profile, logging under ``tmp_path``
    (callers take the ``mnist`` fixture: these runs need the data)."""
    from nbclient import NotebookClient

    from mnistkit.notebooks import kernel_manager_class

    monkeypatch.setenv("MNISTKIT_PROFILE", "quick")
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}},
                            kernel_manager_class=kernel_manager_class())  # as run-notebooks starts them
    return nb, client


def assert_refused(client, nb, settings_index, run_index, replace: tuple[str, str], message: str, log: Path):
    """A learner's mistyped setting, rerun: the run cell stops with a ValueError saying ``message``, and nothing more
    is logged. The settings cell is put back afterwards."""
    from nbclient.exceptions import CellExecutionError

    before, source = results.read_records(log), nb.cells[settings_index].source
    nb.cells[settings_index].source = re.sub(replace[0], replace[1], source, count=1)
    assert nb.cells[settings_index].source != source, replace
    client.execute_cell(nb.cells[settings_index], settings_index)
    with pytest.raises(CellExecutionError, match=re.escape(message)):
        client.execute_cell(nb.cells[run_index], run_index)
    assert results.read_records(log) == before
    nb.cells[settings_index].source = source


@pytest.mark.slow
def test_learner_rerun_of_your_turn_reaches_the_leaderboard(tmp_path, monkeypatch, mnist):
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
        assert_refused(client, nb, i, i + 2, (r"HIDDEN = \(32,\)", "HIDDEN = (256)"),
                       "HIDDEN=256 is a number, not a tuple: write (256,)", tmp_path / results.LOG_NAME)
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
    require_committed_outputs(NOTEBOOKS / "08_final_comparison.ipynb")
    shown = demo_output(NOTEBOOKS / "08_final_comparison.ipynb", "predict-demo")
    predicted = re.findall(r"^digit_\d+_true_(\d)\.png: (\d) \(\d+\.\d%\)$", shown, flags=re.M)
    assert len(predicted) == 6, f"the committed predict demo shows {len(predicted)} predictions:\n{shown!r}"
    assert "error" not in shown



@pytest.mark.slow
def test_learner_edit_of_07s_cnn_layers_reaches_the_leaderboard(tmp_path, monkeypatch, mnist):
    """07's Your turn: change the layers, rerun the two cells (after the cells that define what they use), and the
    run is on the leaderboard that 08 reads."""
    nb, client = quick_notebook("07_cnn.ipynb", tmp_path, monkeypatch)
    i = your_turn_index(nb)
    starts = ("import time", "data = mk.data.load_mnist_splits", "def fit(", "def conv_block(")
    needed = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.startswith(starts)]
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
        table = "".join(output.get("data", {}).get("text/plain", "") for output in nb.cells[i + 1].outputs)
        for replace, message in [((r"FILTERS = \(8,\)", "FILTERS = (8)"), "FILTERS=8 is a number, not a tuple"),
                                 ((r"BATCH_NORM = True", 'BATCH_NORM = "False"'), "BATCH_NORM='False' is not valid")]:
            assert_refused(client, nb, i, i + 1, replace, message, tmp_path / results.LOG_NAME)
    mine = results.read_records(tmp_path / results.LOG_NAME)[-1]
    conv, batch_norm, dense = 3 * 3 * 8, 4 * 8, 14 * 14 * 8 * 10 + 10
    assert mine["name"] == "learner-cnn" and mine["notebook"] == "07_cnn" and mine["epochs"] == 1
    assert mine["params"] == conv + batch_norm + dense
    assert "learner-cnn" in set(results.leaderboard(path=tmp_path / results.LOG_NAME)["name"])
    assert "learner-cnn" in table and "val_accuracy" in table and "test_accuracy" not in table, table


@pytest.mark.slow
def test_learner_quantises_a_saved_mlp_in_09s_your_turn(tmp_path, monkeypatch, mnist):
    """09's Your turn: another saved model (an MLP), dynamic range; its files go to deploy/yours/<model>/, the lesson's
    folders are not touched, and the comparison with Keras is printed."""
    import keras

    pytest.importorskip("ai_edge_litert")
    nb, client = quick_notebook("09_deploy.ipynb", tmp_path, monkeypatch)
    i = your_turn_index(nb)
    mlp = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    (tmp_path / "models").mkdir()
    mlp.save(tmp_path / "models" / "tiny_mlp.keras")
    starts = ("import time", "NEEDS = ", "data = mk.data.load_mnist_splits", "REPRESENTATIVE = ", "FORMATS = ")
    needed = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.startswith(starts)]
    assert len(needed) == len(starts), needed
    edited = re.sub(r'FILE = ".*?"', 'FILE = "tiny_mlp.keras"', nb.cells[i].source)
    nb.cells[i].source = re.sub(r"INTEGER_ONLY = True", "INTEGER_ONLY = False", edited)
    assert "tiny_mlp.keras" in nb.cells[i].source and "INTEGER_ONLY = False" in nb.cells[i].source
    nb.cells[needed[-1]].source = "tables = {}\n" + nb.cells[needed[-1]].source  # the lesson's tables are not needed
    with client.setup_kernel():
        for index in [*needed, i, i + 1]:
            client.execute_cell(nb.cells[index], index)
        printed = "".join(output.get("text", "") for output in nb.cells[i + 1].outputs)
        assert_refused(client, nb, i, i + 1, ("INTEGER_ONLY = False", 'INTEGER_ONLY = "False"'),
                       "INTEGER_ONLY='False' is not valid; use True or False", tmp_path / results.LOG_NAME)
    assert re.search(r"^tiny_mlp.keras, dynamic: [+-]\d+\.\d\d points against Keras, \d+% of its size, \d+\.\d\d% "
                     r"agreement$", printed, flags=re.M), printed
    assert sorted(p.name for p in (tmp_path / "deploy").iterdir()) == ["yours"]
    assert {p.name for p in (tmp_path / "deploy" / "yours" / "tiny_mlp").iterdir()} == {"model.keras", "savedmodel",
                                                                                       "dynamic.tflite"}
    assert "WARNING" not in "".join(output.get("text", "") for output in nb.cells[i + 1].outputs)


def committed_tables(path: Path) -> dict[str, list[dict[str, str]]]:
    """The HTML tables in a notebook's committed outputs, by caption, as rows of {column: cell text}."""
    tables = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            caption = re.search(r"<caption>(.*?)</caption>", html)
            if not caption:
                continue
            columns = [c.strip() for c in re.findall(r"<th [^>]*col_heading[^>]*>(.*?)</th>", html)]
            rows = [[c.strip() for c in re.findall(r"<td [^>]*>(.*?)</td>", row)]
                    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S) if "<td" in row]
            tables[caption.group(1)] = [dict(zip(columns, row)) for row in rows]
    return tables


def test_09s_committed_tables_meet_the_deploy_targets():
    """09's committed full-profile tables: every runtime on all 10 000 test images, int8 within 0.1 point of
    float32 for both CNNs, the best CNN's int8 file about a quarter of its float32 file, latencies printed."""
    require_committed_outputs(NOTEBOOKS / "09_deploy.ipynb")
    tables = committed_tables(NOTEBOOKS / "09_deploy.ipynb")
    assert set(tables) == {"best CNN, 10,000 test images", "compact CNN, 10,000 test images"}, set(tables)
    for caption, rows in tables.items():
        by_format = {(row["format"], row["variant"]): row for row in rows}
        assert {("SavedModel", "float32"), ("LiteRT", "float32"), ("LiteRT", "int8"), ("ONNX", "float32")} <= set(
            by_format), (caption, sorted(by_format))
        number = lambda row, column: float(row[column].rstrip("%").replace(",", ""))  # noqa: E731
        f32, int8 = by_format[("LiteRT", "float32")], by_format[("LiteRT", "int8")]
        assert abs(number(int8, "test accuracy") - number(f32, "test accuracy")) <= 0.1, caption
        for row in rows:
            assert number(row, "ms/image (batch 1)") > 0 and number(row, "ms/1000 (batch 256)") > 0, (caption, row)
            assert number(row, "agreement") >= 99.9, (caption, row)
        if caption.startswith("best CNN"):
            assert 0.2 <= number(int8, "size (KB)") / number(f32, "size (KB)") <= 0.3, caption


def test_09s_committed_serve_demo_answers_the_test_digit():
    require_committed_outputs(NOTEBOOKS / "09_deploy.ipynb")
    nb = nbformat.read(NOTEBOOKS / "09_deploy.ipynb", as_version=4)
    shown = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" and "serve" in c.source
                    for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert re.search(r"^serving \S+ on http://127\.0\.0\.1:\d+/$", shown, flags=re.M), shown
    answer = re.search(r"true digit (\d), served digit (\d), probability [\d.]+%, image the model saw: \(28, 28\)",
                       shown)
    assert answer and answer.group(1) == answer.group(2), shown


def exercises(path: Path) -> dict[int, str]:
    """A lesson's numbered exercises as {number: text}, without the solution times the list also carries."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert len(cells) == 1, "one '## Exercises' cell"
    body = re.sub(r"\n\nWorked solutions.*$", "", cells[0].split("\n", 1)[1], flags=re.S)
    items = re.split(r"\n(?=\d+\. \*)", body)
    return {int(item.split(".")[0]): re.sub(r" \(solution: [^)]*\)$", "", item.split(". ", 1)[1])
            for item in items}


@pytest.mark.parametrize("path", notebook_paths(NOTEBOOKS), ids=lambda p: p.stem)
def test_every_exercise_has_a_worked_solution_that_quotes_it(path):
    """Each numbered exercise of a lesson has its '## Exercise N' section in notebooks/solutions/, quoting the
    exercise as the lesson words it now (make test runs those notebooks, so every solution also runs)."""
    wanted = exercises(path)
    assert list(wanted) == list(range(1, len(wanted) + 1))
    solutions = NOTEBOOKS / "solutions" / f"{path.stem}_solutions.ipynb"
    assert solutions.is_file(), f"no {solutions.name}"
    cells = nbformat.read(solutions, as_version=4).cells
    quoted = {}
    for i, cell in enumerate(cells):
        heading = re.match(r"## Exercise (\d+)\b", cell.source)
        if heading:
            text = cell.source if "\n>" in cell.source else cells[i + 1].source
            quoted[int(heading.group(1))] = " ".join(line[1:] for line in text.split("\n") if line.startswith(">"))
    assert list(quoted) == list(wanted)
    for number, text in wanted.items():
        assert quoted[number].split() == text.split(), f"exercise {number}: the solution quotes another wording"


def load_notebooks_conftest():
    import importlib.util
    spec = importlib.util.spec_from_file_location("notebooks_conftest", NOTEBOOKS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# what a notebook does when it reads what another saved, or writes what another reads
SHARED_STATE = ("artifacts_dir", "MODELS_DIR", "LogRun", "save_model", "mk.results", "experiments.train",
                "experiments.sweep")


def test_the_solutions_queue_neither_reads_nor_writes_what_the_lessons_share():
    """make test runs the 'solutions' queue beside the lessons, at the same time, in the same artifacts: that is
    safe only for notebooks that read nothing the lessons save and log nothing the lessons read."""
    scope = load_notebooks_conftest().notebook_scope
    queues = {}
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            queues.setdefault(scope(f"{path.relative_to(NOTEBOOKS.parent).as_posix()}::Cell 0"), []).append(path)
    assert set(queues) == {"lessons", "solutions"}
    assert [p.name for p in queues["lessons"][:9]] == sorted(p.name for p in NOTEBOOKS.glob("0*.ipynb"))
    for path in queues["solutions"]:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        code = re.sub(r"#.*", "", code)  # what runs, not what the comments mention
        shared = [s for s in SHARED_STATE if s in code]
        assert not shared, f"{path.name} uses {shared}: put it in the 'lessons' queue (notebooks/conftest.py)"
    assert scope("tests/test_data.py::test_x") == "tests/test_data.py::test_x"


def test_the_readmes_results_table_is_08s_committed_table():
    """README.md's finalists table carries 08's committed numbers, timings included, row by row."""
    require_committed_outputs(NOTEBOOKS / "08_final_comparison.ipynb")
    nb = nbformat.read(NOTEBOOKS / "08_final_comparison.ipynb", as_version=4)
    html = next(o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" and c.source.rstrip().endswith(
        "\ntable") for o in c.get("outputs", []) if "text/html" in o.get("data", {}))
    head, body = html.split("<tbody>")
    columns = re.findall(r"<th>(.*?)</th>", head)[1:]  # after the index column's empty header
    shown = {row[0]: dict(zip(columns, row[1:])) for row in
             (re.findall(r"<t[hd]>(.*?)</t[hd]>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S))}
    readme = {}
    for line in (NOTEBOOKS.parent / "README.md").read_text().splitlines():
        row = re.match(r"\| ([A-Za-z -]+?)(?:, [^|(]+)? \(\d\d\) \|(.*)\|$", line)
        if row:
            readme[row.group(1)] = [cell.strip() for cell in row.group(2).split("|")]
    assert set(readme) == set(shown), (sorted(readme), sorted(shown))
    plain = lambda text: re.sub(r"[\s,]", "", text)  # noqa: E731 - README's "7 850" and "92.20 %" as 08 prints them
    for name, cells in readme.items():
        accuracy, ci, loss, params, seconds, ms_image, ms_1000 = map(plain, cells)
        expected = shown[name]
        assert plain(expected["95% CI"]) == ci, name
        for column, value in [("test accuracy", accuracy), ("test loss", loss), ("params", params),
                              ("train s", seconds), ("ms/image", ms_image), ("ms/1000", ms_1000)]:
            assert float(value) == float(expected[column]), f"{name}: README {column} {value}, 08 {expected[column]}"


def test_the_readmes_series_table_carries_the_footers_and_the_recorded_workshop_times():
    """README.md's wall times per notebook: the full profile's as each committed footer prints it, the workshop
    profile's as mnistkit/timings.json (what doctor scales) records it, and both totals beneath the table; the plan
    in docs/instructors.md agrees with it."""
    import json

    from mnistkit import doctor

    require_committed_outputs(*notebook_paths(NOTEBOOKS))
    workshop = json.loads((NOTEBOOKS.parent / "mnistkit" / "timings.json").read_text())["wall_s"]["workshop"]
    footers = doctor.wall_times_from_footers(NOTEBOOKS)
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    rows = {m.group(1): (m.group(3), m.group(4), m.group(2)) for m in re.finditer(
        r"^\| \d\d \| \[`(\d\d_\w+)`\].*\| (\d+ min) \| ([\d ]+) s \| ([\d ]+) s \|$", readme, flags=re.M)}
    assert set(rows) == set(footers) == set(workshop), (sorted(rows), sorted(footers), sorted(workshop))
    seconds = lambda text: int(text.replace(" ", ""))  # noqa: E731 - README's "1 123"
    half_up = lambda x: int(x + 0.5)  # noqa: E731
    for name, (full, short, _) in rows.items():
        assert seconds(full) == half_up(footers[name]) and seconds(short) == half_up(workshop[name]), name
    total = half_up(sum(workshop.values()))
    assert f"{total} s ({half_up(total / 60)} min)" in readme, total
    assert f"{half_up(sum(footers.values())):,} s in all".replace(",", " ") in readme
    # docs/instructors.md's plan: the same workshop time and teaching time for each notebook as README's table
    instructors = (NOTEBOOKS.parent / "docs" / "instructors.md").read_text()
    plan = {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^\| (\d\d) [^|]+\| (\d+) s \| (\d+ min) \|", instructors, re.M)}
    assert plan == {name[:2]: (str(half_up(workshop[name])), rows[name][2]) for name in workshop}, plan


def test_08s_your_turn_names_the_finalists_when_a_name_is_mistyped():
    """A misspelt finalist in 08's Your turn says which names exist, instead of a bare KeyError."""
    nb = nbformat.read(NOTEBOOKS / "08_final_comparison.ipynb", as_version=4)
    i = your_turn_index(nb)
    namespace = {"test_pred": {"keras-io CNN": None, "compact CNN": None}}
    exec(nb.cells[i].source.replace('"keras-io CNN"', '"keras-io cnn"'), namespace)
    with pytest.raises(AssertionError, match="not a finalist: keras-io cnn; choose from: keras-io CNN, compact CNN"):
        exec(nb.cells[i + 1].source, namespace)
