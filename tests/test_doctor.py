import json
from pathlib import Path

import pytest
from commands import run_mnistkit

from mnistkit import doctor

ROOT = Path(__file__).resolve().parent.parent
KERAS = doctor.installed_version("keras")


def lock(tmp_path, text):
    path = tmp_path / "requirements.lock"
    path.write_text("# pins\n" + text)
    return path


def test_the_installed_pins_pass_and_name_the_key_versions(tmp_path):
    tuner = doctor.installed_version("keras-tuner")
    check = doctor.check_versions(lock(tmp_path, f"keras=={KERAS}\nKeras_Tuner=={tuner}\n"))
    assert check.ok and f"keras {KERAS}" in check.line and "the 2 pins" in check.line, check


def test_a_wrong_key_version_stops_with_the_remedy(tmp_path):
    check = doctor.check_versions(lock(tmp_path, "keras==2.0.0\n"))
    assert not check.ok and f"keras {KERAS} (lock: 2.0.0)" in check.line and check.remedy == doctor.REMEDY_VERSIONS


def test_a_missing_package_stops_and_a_minor_difference_only_warns(tmp_path):
    check = doctor.check_versions(lock(tmp_path, "no-such-package-here==1.0\n"))
    assert not check.ok and "no-such-package-here missing (lock: 1.0)" in check.line
    check = doctor.check_versions(lock(tmp_path, "pytest==0.0.1\n"))
    assert check.ok and "1 other packages differ from the lock (pytest)" in check.line


@pytest.mark.parametrize("python", [(3, 9, 18), (3, 10, 12), (3, 13, 0)])
def test_python_outside_the_supported_range_stops(tmp_path, python):
    """The lock's numpy, scipy, keras and pandas need Python 3.11 or later: 3.10 fails in pip, so doctor says so."""
    check = doctor.check_versions(lock(tmp_path, ""), python=python)
    shown = ".".join(map(str, python))
    assert not check.ok and f"Python {shown}: mnistkit needs Python 3.11 or 3.12" in check.line
    assert "Python 3.11" in check.remedy


def test_an_empty_cache_stops_with_fetch_and_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MNISTKIT_DATA", raising=False)
    check = doctor.check_data()
    assert not check.ok and check.remedy == "python -m mnistkit fetch" and str(tmp_path / "cache") in check.line
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_bad_mnistkit_data_names_the_variable_not_fetch(tmp_path, monkeypatch):
    """fetch refuses a bad MNISTKIT_DATA the same way, so 'run fetch' would not help: name the variable."""
    bad = tmp_path / "mnist.npz"
    bad.write_text("hello")
    monkeypatch.setenv("MNISTKIT_DATA", str(bad))
    monkeypatch.setenv("MNISTKIT_CACHE", str(tmp_path / "cache"))
    check = doctor.check_data()
    assert not check.ok and f"MNISTKIT_DATA={bad}" in check.line and "not a NumPy .npz archive" in check.line
    assert check.remedy.startswith("point MNISTKIT_DATA at a good mnist.npz")


def test_too_little_disk_stops():
    assert not doctor.check_disk(ROOT, minimum_gib=1e9).ok and doctor.check_disk(ROOT, minimum_gib=0).ok


def test_predictions_scale_the_reference_times_by_the_probes():
    timings = {"probe_s": 4.0, "wall_s": {"full": {"01_a": 100.0}, "workshop": {"01_a": 10.0, "02_b": 20.0}}}
    expected = {"full": {"01_a": 150.0}, "workshop": {"01_a": 15.0, "02_b": 30.0}}
    assert doctor.predict_wall_times(6.0, timings) == expected


def test_calibration_reads_run_notebooks_logs_and_the_footers(tmp_path):
    log = tmp_path / "workshop.log"
    log.write_text("01_explore_data.ipynb              running (workshop profile) ...\n"
                   "01_explore_data.ipynb                  14.3 s\n02_baseline.ipynb                      15.0 s\n"
                   "all notebooks                          29.3 s\n")
    out = tmp_path / "timings.json"
    timings = doctor.calibrate({"workshop": str(log)}, notebooks=ROOT / "notebooks", path=out, probe=lambda: 4.321)
    assert json.loads(out.read_text()) == timings and timings["probe_s"] == 4.32
    assert timings["wall_s"]["workshop"] == {"01_explore_data": 14.3, "02_baseline": 15.0}
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(timings["wall_s"]["full"]) == notebooks and all(s > 0 for s in timings["wall_s"]["full"].values())
    with pytest.raises(ValueError, match="valid profiles: full, workshop, quick"):
        doctor.calibrate({"fast": str(log)}, notebooks=ROOT / "notebooks", path=out, probe=lambda: 1.0)


def test_footers_are_read_back_as_machine_footer_writes_them(tmp_path, monkeypatch):
    """The footer line is written by mnistkit.machine and parsed here: a change to one side must show."""
    import time

    import nbformat

    from mnistkit import machine

    monkeypatch.setattr(machine, "describe", lambda: "Some CPU, 2 cores, no GPU")
    for name, profile, seconds in (("01_a", "full", 61), ("02_b", "workshop", 7)):
        line = machine.footer(time.perf_counter() - seconds, profile=profile)
        cell = nbformat.v4.new_code_cell("print(footer)", outputs=[nbformat.v4.new_output("stream", text=line + "\n")])
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / f"{name}.ipynb")
    assert doctor.wall_times_from_footers(tmp_path) == {"01_a": 61.0}
    assert doctor.wall_times_from_footers(tmp_path, "workshop") == {"02_b": 7.0}


def test_the_committed_timings_cover_every_notebook_in_the_profiles_people_run():
    timings = doctor.load_timings()
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {"full", "workshop"} <= set(timings["wall_s"]) and timings["probe_s"] > 0
    for profile, times in timings["wall_s"].items():
        assert set(times) == notebooks, profile


@pytest.mark.cli
@pytest.mark.slow
def test_doctor_without_data_exits_1_naming_the_remedy(tmp_path):
    """The command a user types: the empty cache stops the workshop, and the verdict says so first."""
    done = run_mnistkit("doctor", env={"MNISTKIT_CACHE": tmp_path / "cache", "MNISTKIT_ARTIFACTS": tmp_path / "a"},
                        drop=["MNISTKIT_DATA"], cwd=ROOT, timeout=300)
    assert done.returncode == 1, done
    assert "data      FAIL" in done.stdout and "fix: python -m mnistkit fetch" in done.stdout
    assert "versions  ok" in done.stdout and "Traceback" not in done.stderr
    assert "predicted wall time here" in done.stdout and "workshop" in done.stdout
    # data comes first; a machine short of disk (CI's may be) adds "; disk: ..." after it
    assert done.stdout.strip().splitlines()[-1].startswith("verdict: NOT READY: data: python -m mnistkit fetch")


@pytest.fixture
def enough_disk(monkeypatch):
    """The report's verdict must not depend on how full the test machine's disk is."""
    monkeypatch.setattr(doctor, "check_disk", lambda: doctor.Check("disk", True, "plenty (test stand-in)"))


def test_a_wrong_version_makes_the_report_exit_1_with_the_remedy(tmp_path, monkeypatch, enough_disk):
    wrong = doctor.check_versions(lock(tmp_path, "keras==2.0.0\n"))
    monkeypatch.setattr(doctor, "check_versions", lambda: wrong)
    monkeypatch.setattr(doctor, "check_data", lambda: doctor.Check("data", True, "MNIST verified (test stand-in)"))
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"machine": "reference", "probe_s": 2.0,
                                   "wall_s": {"full": {"01_a": 100.0}, "workshop": {"01_a": 10.0}},
                                   "notes": {"full": "measured with other jobs on the machine"}}))
    lines = []
    code = doctor.report(probe=lambda: 3.0, timings_path=timings, out=lines.append)
    assert code == 1 and f"fix: {doctor.REMEDY_VERSIONS}" in [line.strip() for line in lines]
    assert any(line.split() == ["01_a", "150", "15"] for line in lines), lines  # 1.5x the reference machine
    assert "  full: measured with other jobs on the machine" in lines
    assert lines[-1] == f"verdict: NOT READY: versions: {doctor.REMEDY_VERSIONS}"


def test_missing_or_broken_timings_are_one_failed_check_not_a_traceback(tmp_path, monkeypatch, enough_disk):
    monkeypatch.setattr(doctor, "check_data", lambda: doctor.Check("data", True, "MNIST verified (test stand-in)"))
    broken = tmp_path / "timings.json"
    broken.write_text("{not json")
    for path in (tmp_path / "missing.json", broken):
        lines = []
        code = doctor.report(probe=lambda: 1.0, timings_path=path, out=lines.append)
        assert code == 1 and any(line.startswith("speed     FAIL") and path.name in line for line in lines), lines
        assert lines[-1].startswith("verdict: NOT READY: speed: ")


def test_calibrating_from_a_missing_log_is_one_line_and_exit_2(tmp_path, capsys):
    from mnistkit.__main__ import main

    assert main(["doctor", "--calibrate", f"workshop={tmp_path / 'nope.log'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no such log: workshop=") and "run-notebooks" in err[0]


@pytest.mark.parametrize("args, said", [
    (["--notebooks", "nowhere"], "--notebooks goes with --calibrate"),
    (["--calibrate", "bogus"], "--calibrate takes PROFILE=LOG (e.g. workshop=workshop.log), not bogus"),
    (["--calibrate", "quick="], "--calibrate takes PROFILE=LOG"),
    (["--calibrate", "quick=LOG", "--notebooks", "nowhere"], "nowhere is not a folder; give --notebooks FOLDER"),
])
def test_doctor_options_out_of_place_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, said):
    from mnistkit.__main__ import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "LOG").write_text("01_a.ipynb   1.0 s\n")
    assert main(["doctor", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {said}"), err


def test_calibrating_from_a_binary_log_or_a_broken_notebook_names_the_file(tmp_path, capsys):
    from mnistkit.__main__ import main

    binary = tmp_path / "workshop.log"
    binary.write_bytes(b"\xff\xfe\x00 not utf-8")
    assert main(["doctor", "--calibrate", f"workshop={binary}"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {binary}: not a text log; give what 'python -m mnistkit " \
                                              f"run-notebooks' printed"
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_broken.ipynb").write_text("{ not json")
    text_log = tmp_path / "quick.log"
    text_log.write_text("01_broken.ipynb   12.0 s\n")
    with pytest.raises(ValueError, match="01_broken.ipynb: not a notebook, so no footer to read"):
        doctor.calibrate({"quick": str(text_log)}, notebooks=tmp_path / "notebooks", path=tmp_path / "t.json",
                         probe=lambda: 1.0)
    assert not (tmp_path / "t.json").exists()
