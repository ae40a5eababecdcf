import pytest

from mnistkit import config


def test_default_profile_is_full_and_quick_caps_work(monkeypatch):
    monkeypatch.delenv("MNISTKIT_PROFILE", raising=False)
    assert config.profile().name == "full"
    assert config.profile().epochs(30) == 30 and config.profile().trials(20) == 20
    monkeypatch.setenv("MNISTKIT_PROFILE", "quick")
    quick = config.profile()
    assert quick.is_quick and quick.epochs(30) == 2 and quick.epochs(1) == 1 and quick.trials(20) == 3
    assert quick.train_size is not None and len(quick.n_seeds(3)) == 1 and len(config.FULL.n_seeds(3)) == 3


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("MNISTKIT_PROFILE", "fast")
    with pytest.raises(ValueError, match="valid profiles: full, workshop, quick"):
        config.profile()


def test_artifacts_are_per_profile_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTKIT_ARTIFACTS", raising=False)
    assert config.artifacts_dir("quick") != config.artifacts_dir("full")
    assert config.artifacts_dir("quick").name == "quick"
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    assert config.artifacts_dir() == tmp_path
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path / "a-file"))
    with pytest.raises(ValueError, match=r"MNISTKIT_ARTIFACTS=.*a-file is a file, not a folder; set it to a folder"):
        config.artifacts_dir()


def test_data_locations_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTKIT_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    monkeypatch.setenv("MNISTKIT_DATA", str(tmp_path / "mnist.npz"))
    assert config.cache_dir() == tmp_path / "c"
    assert config.keras_cache_dir() == tmp_path / "k" / "datasets"
    assert config.data_path() == tmp_path / "mnist.npz"


def test_machine_description_names_cpu_and_cores():
    import time

    from mnistkit import machine
    text = machine.describe()
    assert f"{machine.cores()} cores" in text and ("no GPU" in text or "GPU:" in text)
    assert machine.footer(time.perf_counter(), profile="quick").startswith("Wall time: 0 s in the quick profile on ")


def test_the_workshop_profile_trains_on_everything_with_a_quarter_of_the_epochs(monkeypatch):
    monkeypatch.setenv("MNISTKIT_PROFILE", "workshop")
    workshop = config.profile()
    assert workshop.name == "workshop" and workshop.train_size is None and not workshop.is_quick
    assert [workshop.epochs(n) for n in (1, 2, 3, 6, 14, 40)] == [1, 2, 2, 2, 4, 4]  # one epoch draws no curve
    assert workshop.trials(20) == 2 and workshop.n_seeds(3) == (42,)


def test_artifacts_go_to_the_project_folder_not_the_install_location(monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTKIT_ARTIFACTS", raising=False)
    (tmp_path / "project" / "notebooks" / "solutions").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project" / "notebooks" / "solutions")  # Jupyter runs a notebook in its folder
    assert config.artifacts_dir("full") == tmp_path / "project" / "artifacts" / "full"
    monkeypatch.chdir(tmp_path)  # no notebooks/ above: the working directory itself
    assert config.artifacts_dir("quick") == tmp_path / "artifacts" / "quick"


@pytest.mark.slow
def test_a_non_editable_install_writes_artifacts_where_the_user_works(tmp_path):
    """pip install (not -e) puts mnistkit in site-packages; its artifacts must still land in the user's folder."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root, source = Path(__file__).resolve().parent.parent, tmp_path / "source"
    site, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    shutil.copytree(root / "mnistkit", source / "mnistkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)  # a copy: building writes build/ beside the sources
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, cwd=tmp_path, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MNISTKIT_ARTIFACTS", None)
    code = "import mnistkit, mnistkit.config as c; print(mnistkit.__file__); print(c.artifacts_dir('full'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=work, env=env,
                          timeout=120, check=True)
    installed_at, artifacts = done.stdout.split()
    assert Path(installed_at).is_relative_to(site)  # the installed copy, not this checkout
    assert Path(artifacts) == work / "artifacts" / "full"


def test_with_no_model_in_this_profile_the_message_names_a_profile_whose_artifacts_hold_one(monkeypatch, tmp_path):
    """A learner who ran the quick profile, then `predict` in the default full one: told where the model is."""
    monkeypatch.delenv("MNISTKIT_ARTIFACTS", raising=False)
    monkeypatch.setenv("MNISTKIT_PROFILE", "full")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path)
    assert "MNISTKIT_PROFILE=" not in config.no_model_message()
    saved = tmp_path / "artifacts" / "quick" / config.DEFAULT_MODELS[1]
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"")
    message = config.no_model_message()
    assert message.startswith(f"no trained model found in {tmp_path / 'artifacts' / 'full'}; pass --model")
    assert message.endswith("or set MNISTKIT_PROFILE=quick (its artifacts hold one)"), message
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path / "mine"))  # one folder named: no other profile to offer
    assert "MNISTKIT_PROFILE=" not in config.no_model_message()
