import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from synthetic import tiny_cnn

from mnistkit import results


def test_records_round_trip_and_leaderboard_sorts_by_validation(tmp_path):
    log = tmp_path / "experiments.jsonl"
    for record in ({"notebook": "02_baseline", "name": "a", "val_accuracy": 0.91, "test_accuracy": 0.99},
                   {"notebook": "03_architectures", "name": "b", "val_accuracy": 0.97, "test_accuracy": 0.90},
                   {"notebook": "02_baseline", "name": "c", "val_accuracy": 0.95, "config": {"lr": 1e-3}}):
        results.append_record(record, path=log)
    board = results.leaderboard(path=log)
    assert list(board["name"]) == ["b", "c", "a"]  # validation decides, not test
    assert list(board.columns[:4]) == ["notebook", "name", "val_accuracy", "test_accuracy"]
    assert list(results.leaderboard(path=log, notebook="02")["name"]) == ["c", "a"]
    assert results.read_records(log)[2]["config"] == {"lr": 1e-3} and "time" in results.read_records(log)[0]
    assert "config" not in board.columns and "config" in results.leaderboard(path=log, details=True).columns


def test_empty_log_gives_an_empty_frame(tmp_path):
    board = results.leaderboard(path=tmp_path / "none.jsonl")
    assert isinstance(board, pd.DataFrame) and board.empty and "val_accuracy" in board.columns


@pytest.mark.parametrize("records", [[], [{"name": "arch-32", "val_accuracy": 0.9}]], ids=["no runs", "no checkpoint"])
def test_details_carry_every_record_field_before_any_run_has_logged_it(tmp_path, records):
    """08 on a fresh clone selects runs by ``checkpoint`` before naming the notebooks to run: no KeyError."""
    log = tmp_path / "e.jsonl"
    for record in records:
        results.append_record(record, path=log)
    board = results.leaderboard(path=log, details=True)
    assert set(results.RECORD_FIELDS) <= set(board.columns)
    assert board[board["name"].str.startswith("arch-") & board["checkpoint"].notna()].empty  # 08's selection


def test_bad_sort_column_names_the_valid_ones(tmp_path):
    log = tmp_path / "e.jsonl"
    results.append_record({"name": "a", "val_accuracy": 0.9}, path=log)
    with pytest.raises(ValueError, match="choose one of"):
        results.leaderboard(path=log, sort_by="speed")


def test_truncated_last_line_costs_only_that_line(tmp_path):
    log = tmp_path / "e.jsonl"
    results.append_record({"name": "first", "val_accuracy": 0.9}, path=log)
    whole = json.dumps({"name": "killed", "val_accuracy": 0.8})
    with open(log, "a") as f:
        f.write(whole[: len(whole) // 2])  # a writer killed mid-line: no newline
    results.append_record({"name": "after", "val_accuracy": 0.95}, path=log)
    assert [r["name"] for r in results.read_records(log)] == ["first", "after"]


WRITER = textwrap.dedent("""
    import sys
    from mnistkit import results
    who, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    for i in range(n):
        results.append_record({"name": f"{who}-{i}", "val_accuracy": i / n, "pad": "x" * 3000}, path=path)
""")


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    log, n = tmp_path / "e.jsonl", 300
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, who, str(n), str(log)]) for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    names = [r["name"] for r in results.read_records(log)]
    assert len(names) == 2 * n and set(names) == {f"{w}-{i}" for w in "ab" for i in range(n)}
    assert len(log.read_text().splitlines()) == 2 * n


def test_latest_runs_take_the_newest_per_seed_of_the_same_model_only(tmp_path):
    log = tmp_path / "experiments.jsonl"
    rows = [("cnn", 42, 100, 10, 0.990), ("cnn-seed43", 43, 100, 10, 0.991), ("cnn", 42, 200, 12, 0.995),
            ("cnn-seed43", 43, 100, 12, 0.992), ("mlp", 42, 200, 12, 0.98), ("cnn", 42, 200, 12, 0.996)]
    for name, seed, params, epochs, acc in rows:
        results.append_record({"name": name, "seed": seed, "params": params, "epochs": epochs,
                               "test_accuracy": acc, "val_accuracy": acc}, path=log)
    newest = results.latest_runs("cnn", params=200, epochs=12, path=log)
    assert newest["test_accuracy"].to_dict() == {42: 0.996}          # older sizes and the MLP left out
    assert results.latest_runs("cnn", path=log)["test_accuracy"].to_dict() == {43: 0.992, 42: 0.996}
    latest = results.latest_runs("cnn", params=100, epochs=10, path=log)
    assert latest["test_accuracy"].to_dict() == {42: 0.99, 43: 0.991}
    assert results.latest_runs("cnn", path=tmp_path / "none.jsonl").empty


def test_latest_runs_skip_runs_of_another_recipe_with_the_same_size(tmp_path):
    """A changed augmentation or schedule keeps params and epochs: the fingerprint tells the runs apart, and runs
    logged before fingerprints existed are not taken for any."""
    log = tmp_path / "experiments.jsonl"
    rows = [(42, None, 0.990), (43, "old", 0.991), (42, "new", 0.995), (44, "old", 0.993)]
    for seed, fp, acc in rows:
        config = {"batch_size": 256} if fp is None else {"batch_size": 256, "fingerprint": fp}
        results.append_record({"name": f"cnn-seed{seed}", "seed": seed, "params": 100, "epochs": 12,
                               "test_accuracy": acc, "val_accuracy": acc, "config": config}, path=log)
    assert results.latest_runs("cnn", fingerprint="new", path=log)["test_accuracy"].to_dict() == {42: 0.995}
    assert results.latest_runs("cnn", fingerprint="old", path=log)["test_accuracy"].to_dict() == {43: 0.991,
                                                                                                 44: 0.993}
    assert results.latest_runs("cnn", fingerprint="other", path=log).empty


def test_logged_runs_carry_the_fingerprint_that_08_matches(tmp_path):
    from synthetic import tiny_splits

    from mnistkit import experiments, models, training
    model = tiny_cnn((4,), augment=models.augmentation(seed=3), seed=3)
    run = experiments.train(model, tiny_splits(), name="fp-seed3", notebook="t", epochs=1, batch_size=64, seed=3,
                         artifacts=tmp_path, verbose=0)
    assert run.config["fingerprint"] == training.fingerprint(model, 64)
    other = tiny_cnn((4,), augment=models.augmentation(shift=0.2, seed=3), seed=3)  # same size
    assert other.count_params() == model.count_params()
    assert training.fingerprint(other, 64) != run.config["fingerprint"] != training.fingerprint(model, 128)
    logged = results.latest_runs("fp", fingerprint=run.config["fingerprint"], path=results.log_path(tmp_path))
    assert list(logged.index) == [3]


def test_a_poisoned_log_gives_a_leaderboard_and_says_what_it_skipped(tmp_path):
    log = tmp_path / results.LOG_NAME
    results.append_record({"notebook": "02", "name": "good", "val_accuracy": 0.97, "test_accuracy": 0.96}, path=log)
    with open(log, "ab") as f:
        f.write(b'{"notebook": "02", "name": "string-score", "val_accuracy": "0.99"}\n')
        f.write(b"[" * 100_000 + b"\n")                      # nested past the JSON parser's recursion limit
        f.write(b"not json at all\n")
        f.write(b'{"name": "latin-1 \xe9"}\n')               # not UTF-8
        f.write(b'{"notebook": "02", "name": "nan", "val_accuracy": NaN}\n')
    results.append_record({"notebook": "02", "name": "also-good", "val_accuracy": 0.98}, path=log)
    with pytest.warns(UserWarning, match=r"skipped 3 unreadable line\(s\) \(line 3, 4, 5\) and 2 record"):
        board = results.leaderboard(path=log)
    assert list(board["name"]) == ["also-good", "good"]


def test_a_folder_in_place_of_the_log_is_one_clear_error(tmp_path):
    folder = tmp_path / results.LOG_NAME
    folder.mkdir()
    with pytest.raises(results.LogError, match="is a folder"):
        results.leaderboard(path=folder)
    with pytest.raises(results.LogError, match="is a folder"):
        results.check_log(folder)


def test_check_log_refuses_a_read_only_log_or_folder(tmp_path, monkeypatch):
    log = tmp_path / "logs" / results.LOG_NAME
    assert results.check_log(log) == log          # a log that does not exist yet is fine where it can be made
    log.parent.mkdir()
    log.write_text("")
    log.chmod(0o444)
    real = results.os.access                        # root may write read-only files: ask as a user would
    monkeypatch.setattr(results.os, "access", lambda p, mode: False if str(p) == str(log) else real(p, mode))
    with pytest.raises(results.LogError, match="not writable"):
        results.check_log(log)
    monkeypatch.setattr(results.os, "access", lambda p, mode: False)
    with pytest.raises(results.LogError, match="cannot be created"):
        results.check_log(tmp_path / "elsewhere" / results.LOG_NAME)


def test_the_same_layers_built_twice_in_one_session_share_a_fingerprint():
    """Keras numbers automatic layer names by how many were made before (dense, dense_1 ...): a notebook that builds
    one Sequential model per seed must still find every seed's run."""
    import keras

    from mnistkit import training

    def build(units=16, dropout=0.25):
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(units),
                                  keras.layers.Dropout(dropout),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 100)),
                      loss="sparse_categorical_crossentropy")
        return model

    first, second = build(), build()
    assert first.layers[1].name != second.layers[1].name
    assert training.fingerprint(first, 32) == training.fingerprint(second, 32)
    assert training.fingerprint(build(dropout=0.3), 32) != training.fingerprint(first, 32)
    assert training.fingerprint(build(units=17), 32) != training.fingerprint(first, 32)


def test_leaderboard_command_on_a_log_with_garbage_and_runs_without_validation(tmp_path, monkeypatch, capsys):
    """A skipped line is one 'warning:' line, and runs that logged no validation accuracy are listed, not an
    error about a sort_by option the command does not have."""
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    (tmp_path / "experiments.jsonl").write_text('not json\n{"name": "quick-try", "notebook": "02_baseline"}\n')
    assert main(["leaderboard"]) == 0
    out, err = capsys.readouterr()
    assert "quick-try" in out
    assert err.splitlines() == [f"warning: {tmp_path / 'experiments.jsonl'}: skipped 1 unreadable line(s) (line 1)"]


def test_leaderboard_command_on_a_log_of_nothing_but_garbage_fails_naming_it(tmp_path, monkeypatch, capsys):
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    log = tmp_path / "experiments.jsonl"
    log.write_text("not json\n\x00\x01 binary\n")
    assert main(["leaderboard"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines()[-1] == (f"error: no readable runs in {log}; move it aside and rerun a "
                                                  f"notebook to start a new log")
    log.write_text("")
    assert main(["leaderboard"]) == 0 and capsys.readouterr().out.strip() == f"no runs logged yet in {log}"


def test_leaderboard_command_for_a_notebook_with_no_runs_names_those_that_have_some(tmp_path, monkeypatch, capsys):
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    (tmp_path / "experiments.jsonl").write_text('{"name": "a", "notebook": "02_baseline", "val_accuracy": 0.9}\n'
                                                '{"name": "b", "notebook": "03_architectures", "val_accuracy": 0.95}\n')
    assert main(["leaderboard", "--notebook", "zz"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == (f"no runs from a notebook starting with 'zz' in {tmp_path / 'experiments.jsonl'}; it has "
                           f"runs from: 02_baseline, 03_architectures") and err == ""
    assert main(["leaderboard", "--notebook", "03"]) == 0
    out = capsys.readouterr().out
    assert "b" in out.split() and "a" not in out.split()


@pytest.mark.parametrize("lines, code, said", [
    ('{"a": 1}\n', 1, "error: no readable runs in"),                        # no run in it at all
    ('{"name": "mine", "val_accuracy": 0.9}\n', 0, "it has runs from: no named notebook"),  # runs, no notebook
])
def test_leaderboard_for_a_notebook_on_a_log_without_notebooks_is_one_line(tmp_path, monkeypatch, capsys, lines,
                                                                          code, said):
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    (tmp_path / "experiments.jsonl").write_text(lines)
    assert main(["leaderboard", "--notebook", "02"]) == code
    out, err = capsys.readouterr()
    assert said in (err if code else out) and "Traceback" not in err


def test_a_log_that_is_a_fifo_is_refused_instead_of_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "experiments.jsonl")
    with pytest.raises(results.LogError, match="is a special file, not a file"):
        results.read_records(tmp_path / "experiments.jsonl")


def test_a_copied_artifacts_folder_finds_its_checkpoints(tmp_path):
    """An instructor prepares the artifacts on one machine and copies them into each clone: the log's checkpoint
    paths follow the copy (stored relative to the log), while a checkpoint kept elsewhere keeps its own path."""
    import shutil

    from synthetic import tiny_splits

    from mnistkit import experiments, models
    prepared, elsewhere = tmp_path / "prepared", tmp_path / "elsewhere.keras"
    run = experiments.train(models.build_mlp((8,), seed=0), tiny_splits(), name="mlp", notebook="03_arch", epochs=1,
                            artifacts=prepared, verbose=0)
    assert run.checkpoint.is_file() and run.checkpoint.is_relative_to(prepared)
    results.append_record({"name": "outside", "val_accuracy": 0.5, "checkpoint": elsewhere}, path=prepared /
                          results.LOG_NAME)
    assert '"checkpoint": "checkpoints/03_arch/mlp.keras"' in (prepared / results.LOG_NAME).read_text()
    copy = shutil.copytree(prepared, tmp_path / "clone" / "artifacts")
    shutil.rmtree(prepared)
    board = results.leaderboard(path=copy / results.LOG_NAME, details=True).set_index("name")
    assert board.loc["mlp", "checkpoint"] == str(copy / "checkpoints" / "03_arch" / "mlp.keras")
    assert models.keras.saving.load_model(board.loc["mlp", "checkpoint"]).count_params() == run.params
    assert board.loc["outside", "checkpoint"] == str(elsewhere)


@pytest.mark.parametrize("notebook", [2, ["02", 3], []])
def test_a_notebook_filter_that_is_not_a_name_is_refused(tmp_path, notebook):
    with pytest.raises(ValueError, match="is not valid; give a notebook's name or its prefix"):
        results.leaderboard(path=tmp_path / "none.jsonl", notebook=notebook)
