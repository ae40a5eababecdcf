"""Every command, given bad arguments or a bad environment: one line on stderr, a non-zero exit, no traceback."""
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from commands import ctrl_c_as_at_a_terminal
from commands import run_mnistkit as mnistkit

from mnistkit import distributed

pytestmark = pytest.mark.cli  # each test starts `python -m mnistkit` (a TensorFlow import or a process fleet)


def assert_one_line_error(done, *needles, code=2):
    """One line on stderr holding every needle, no traceback, and exit ``code`` (2: bad input, docs/robustness.md)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("command", [["fetch"], ["leaderboard"], ["run-notebooks", "notebooks", "--only", "99"],
                                     ["predict", "x.png"], ["tune", "--workers", "1"]])
def test_an_unknown_profile_is_one_line_in_every_command(command, tmp_path):
    done = mnistkit(*command, env={"MNISTKIT_PROFILE": "bogus", "MNISTKIT_ARTIFACTS": str(tmp_path)})
    assert_one_line_error(done, "unknown profile 'bogus'", "full, workshop, quick")


@pytest.mark.parametrize("args, needle", [
    (["tune", "--workers", "0"], "--workers: '0' is not a positive integer"),
    (["tune", "--workers", "-1"], "--workers: '-1' is not a positive integer"),
    (["tune", "--oracle-port", "70000"], "--oracle-port: '70000' is not a TCP port"),
    (["tune", "--max-trials", "0"], "--max-trials: '0' is not a positive integer"),
    (["tune", "--train-size", "0"], "--train-size: '0' is not a positive integer"),
    (["tune", "--epochs", "many"], "--epochs: 'many' is not a positive integer"),
    (["tune", "--tuner", "grid"], "invalid choice: 'grid'"),
    (["tune-node", "--project", "x", "--directory", "d", "--chief-timeout", "-1"], "not a number of seconds"),
    (["predict"], "the following arguments are required: IMAGE"),
    (["no-such-command"], "invalid choice"),
    (["predict", "x.png", "--wrongflag"], "arguments: --wrongflag (see: python -m mnistkit predict --help)"),
    (["tune", "--chief-timeout", "3"], "arguments: --chief-timeout 3 (see: python -m mnistkit tune --help)"),
])
def test_bad_arguments_are_one_line_naming_what_is_valid(args, needle):
    done = mnistkit(*args)
    assert_one_line_error(done, needle)


def test_run_notebooks_on_a_missing_folder_fails(tmp_path):
    for folder, needle in ((tmp_path / "missing", "is not a folder"), (tmp_path, "no numbered notebooks")):
        done = mnistkit("run-notebooks", str(folder))
        assert_one_line_error(done, needle)


def test_a_log_that_is_a_folder_is_one_line_for_the_leaderboard(tmp_path):
    (tmp_path / "experiments.jsonl").mkdir()
    assert_one_line_error(mnistkit("leaderboard", env={"MNISTKIT_ARTIFACTS": str(tmp_path)}), "is a folder")


def test_tune_on_a_busy_port_stops_within_seconds_without_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = mnistkit("tune", "--workers", "2", "--oracle-port", str(port), "--directory", str(tmp_path))
    assert_one_line_error(done, f"cannot listen on 127.0.0.1:{port}")
    assert done.seconds < 20 and list(tmp_path.iterdir()) == []


def test_a_worker_with_no_chief_gives_up_after_its_timeout(tmp_path):
    port = distributed.free_port()
    env = {distributed.ROLE: "tuner0", distributed.IP: "127.0.0.1", distributed.PORT: str(port)}
    done = mnistkit("tune-node", "--project", "p", "--directory", str(tmp_path), "--chief-timeout", "1", env=env)
    assert_one_line_error(done, f"no chief answered on 127.0.0.1:{port} within 1 s")
    assert done.seconds < 20


@pytest.mark.parametrize("project", ["..", "/abs", "a/b"])
def test_tune_node_refuses_a_project_that_is_not_a_plain_name(project, tmp_path):
    """Even with --overwrite, which deletes the project folder: nothing outside --directory is touched."""
    (tmp_path / "runs").mkdir()
    keep = [tmp_path / "runs" / "keep.txt", tmp_path / "keep.txt"]
    for path in keep:
        path.write_text("kept")
    done = mnistkit("tune-node", "--project", project, "--directory", str(tmp_path / "runs"), "--overwrite",
                    env={distributed.ROLE: "chief"})
    assert_one_line_error(done, "plain folder name")
    assert [path.read_text() for path in keep] == ["kept", "kept"]


def test_when_the_chief_dies_every_worker_is_stopped(tmp_path, monkeypatch):
    """run_search itself: a chief that serves, then dies with code 3 mid-search; both workers it started are gone."""
    node = textwrap.dedent(f"""
        import os, socket, sys, time
        if os.environ["{distributed.ROLE}"] == "chief":
            with socket.socket() as s:
                s.bind(("127.0.0.1", int(os.environ["{distributed.PORT}"])))
                s.listen()
                time.sleep(3)
            sys.exit(3)
        (__import__("pathlib").Path(sys.argv[1]) / str(os.getpid())).write_text("")
        time.sleep(60)
    """)
    (tmp_path / "pids").mkdir()
    monkeypatch.setattr(distributed, "node_command",
                        lambda **kw: [sys.executable, "-c", node, str(tmp_path / "pids")])
    with pytest.raises(RuntimeError, match="the chief exited with code 3 during the search; stopped 2 worker"):
        distributed.run_search(workers=2, directory=tmp_path / "runs", start_timeout=30, log=lambda line: None)
    pids = [int(p.name) for p in (tmp_path / "pids").iterdir()]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("bad, needle", [({"workers": 0}, "workers=0"), ({"port": 70000}, "port=70000"),
                                         ({"train_size": 0}, "train_size=0"),
                                         ({"train_size": 100_000}, "train_size=100000 is more than MNIST's 55,000")])
def test_search_arguments_are_checked_before_anything_starts(bad, needle, tmp_path):
    with pytest.raises(ValueError, match=needle):
        distributed.run_search(directory=tmp_path / "runs", **bad)
    assert not any(tmp_path.iterdir())   # not even the folder


@pytest.mark.cli
def test_ctrl_c_is_one_line_and_exit_130_not_a_traceback(tmp_path):
    """Ctrl-C during doctor's speed probe, as a user at a terminal would press it."""
    import signal

    env = {**os.environ, "MNISTKIT_CACHE": str(tmp_path / "cache"), "MNISTKIT_ARTIFACTS": str(tmp_path / "a")}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "mnistkit", "doctor"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=ctrl_c_as_at_a_terminal)
    for line in proc.stdout:  # the probe starts after the data line
        if line.startswith("data"):
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: doctor stopped" and "Traceback" not in stderr


def write_notebook(path, *sources, reads=None):
    """A notebook of code cells; ``reads``, when given, goes in its metadata as ``mnistkit.reads``."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    if reads is not None:
        notebook.metadata["mnistkit"] = {"reads": reads}
    nbformat.write(notebook, path)
    return path


def stamps(folder, name, *middle):
    """Cells that write when the notebook ``name`` started and ended (time.time()) into ``folder``."""
    return (f"import time; open({str(folder / (name + '.start'))!r}, 'w').write(repr(time.time()))", *middle,
            f"import time; open({str(folder / (name + '.end'))!r}, 'w').write(repr(time.time()))")


def test_a_notebook_waits_for_what_its_metadata_says_it_reads_and_else_for_every_one_before_it(tmp_path):
    from mnistkit.notebooks import NotebookError, waits_for

    paths = [write_notebook(tmp_path / "01_a.ipynb", "1", reads=[]), write_notebook(tmp_path / "02_b.ipynb", "1"),
             write_notebook(tmp_path / "03_c.ipynb", "1", reads=["01"]),
             write_notebook(tmp_path / "04_d.ipynb", "1", reads=[])]
    assert waits_for(paths) == {paths[0]: [], paths[1]: paths[:1], paths[2]: paths[:1], paths[3]: []}
    assert waits_for(paths[2:]) == {paths[2]: [], paths[3]: []}  # --only 03 04: 01 is not in this run
    for wrong in ("01", [1], ["5"], ["05"], ["50"]):  # not a list, not numbers, itself, after it (a typo for 05?)
        write_notebook(tmp_path / "05_e.ipynb", "1", reads=wrong)
        with pytest.raises(NotebookError, match=r"05_e.ipynb: its metadata mnistkit.reads must list the num") as bad:
            waits_for([tmp_path / "05_e.ipynb"])
        assert bad.value.notebook == tmp_path / "05_e.ipynb"  # run-notebooks names it at the start of its line
    notebook = nbformat.read(tmp_path / "05_e.ipynb", as_version=4)
    notebook.metadata["mnistkit"] = ["01"]  # not a mapping: said so, not "cannot read it as a notebook"
    nbformat.write(notebook, tmp_path / "05_e.ipynb")
    with pytest.raises(NotebookError, match=r"must list the numbers of notebooks before it.*not \['01'\]"):
        waits_for([tmp_path / "05_e.ipynb"])


def test_run_series_starts_first_what_more_notebooks_wait_for_and_nothing_before_what_it_reads(tmp_path,
                                                                                                monkeypatch):
    """The schedule alone (each notebook's run replaced by a short sleep): 02 is read by 03 and 04, so it starts
    first; 03 starts once 02 has ended, 04 (no metadata) once all three have."""
    import threading
    import time

    from mnistkit import notebooks

    paths = [write_notebook(tmp_path / "01_a.ipynb", "1", reads=[]),
             write_notebook(tmp_path / "02_b.ipynb", "1", reads=[]),
             write_notebook(tmp_path / "03_c.ipynb", "1", reads=["02"]), write_notebook(tmp_path / "04_d.ipynb", "1")]
    events, lock = [], threading.Lock()

    def sleep_instead(path, **_):
        with lock:
            events.append(("start", path.name[:2]))
        time.sleep(0.3 if path.name.startswith("01") else 0.1)
        with lock:
            events.append(("end", path.name[:2]))
        return 0.1

    monkeypatch.setattr(notebooks, "execute_notebook", sleep_instead)
    started, finished = [], []
    notebooks.run_series(paths, jobs=2, started=lambda p: started.append(p.name[:2]),
                         finished=lambda p, s: finished.append(p.name[:2]))
    assert started == ["02", "01", "03", "04"] and sorted(finished) == ["01", "02", "03", "04"]
    assert events.index(("start", "03")) > events.index(("end", "02"))
    assert events.index(("start", "04")) > max(events.index(("end", n)) for n in ("01", "02", "03"))
    assert events.index(("start", "03")) < events.index(("end", "01"))  # beside 01, which it does not read


@pytest.mark.cli
def test_run_notebooks_jobs_2_runs_side_by_side_what_reads_nothing_and_the_rest_after(tmp_path, monkeypatch, capsys):
    """01 and 02 read nothing of each other's: with --jobs 2 they overlap; 03 says nothing, so it waits for both."""
    from mnistkit import doctor
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MNISTKIT_PROFILE", "full")
    write_notebook(tmp_path / "01_a.ipynb", *stamps(tmp_path, "01", "import time; time.sleep(2)"), reads=[])
    write_notebook(tmp_path / "02_b.ipynb", *stamps(tmp_path, "02", "import time; time.sleep(2)"), reads=[])
    write_notebook(tmp_path / "03_c.ipynb", *stamps(tmp_path, "03"))
    assert main(["run-notebooks", str(tmp_path), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    at = {f"{n}.{e}": float((tmp_path / f"{n}.{e}").read_text()) for n in ("01", "02", "03") for e in ("start", "end")}
    assert at["02.start"] < at["01.end"] and at["01.start"] < at["02.end"], at  # side by side
    assert at["03.start"] > max(at["01.end"], at["02.end"]), at
    assert out.splitlines()[0].startswith("up to 2 notebooks at a time") and "all notebooks" in out.splitlines()[-1]
    assert set(doctor.wall_times_from_log(out)) == {"01_a", "02_b", "03_c"}
    with pytest.raises(ValueError, match="ran notebooks side by side"):  # those times are not each one's alone
        doctor.calibrate({"workshop": _log(tmp_path, out)}, notebooks=tmp_path, path=tmp_path / "t.json",
                         probe=lambda: 1.0)


def ctrl_c_run_notebooks(folder, marks, *options):
    """``run-notebooks FOLDER [options]`` (full profile) in a new process, Ctrl-C'd as at a terminal a second after
    every file in ``marks`` exists (the long cells have started); returns its exit code and stderr."""
    import signal
    import time

    env = {**os.environ, "MNISTKIT_ARTIFACTS": str(folder / "a"), "MNISTKIT_PROFILE": "full"}
    proc = subprocess.Popen([sys.executable, "-m", "mnistkit", "run-notebooks", str(folder), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_as_at_a_terminal)
    deadline = time.monotonic() + 120
    while not all(m.exists() for m in marks) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1)  # into the sleeping cells
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


def _log(folder, text):
    path = folder / "run.log"
    path.write_text(text)
    return str(path)


@pytest.mark.cli
def test_run_notebooks_jobs_2_lets_the_running_notebook_finish_after_a_failure_and_starts_no_more(tmp_path,
                                                                                                  monkeypatch, capsys):
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    broken = write_notebook(tmp_path / "01_broken.ipynb", "1 / 0", reads=[])
    before = broken.read_bytes()
    write_notebook(tmp_path / "02_slow.ipynb", "import time; time.sleep(2)", "print('done')", reads=[])
    write_notebook(tmp_path / "03_never.ipynb", "print('ran')")
    assert main(["run-notebooks", str(tmp_path), "--jobs", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("01_broken.ipynb") and "FAILED:" in captured.err
    assert "ZeroDivisionError" in captured.err and broken.read_bytes() == before
    assert nbformat.read(tmp_path / "02_slow.ipynb", as_version=4).cells[1].outputs[0].text == "done\n"
    assert "03_never" not in captured.out
    assert nbformat.read(tmp_path / "03_never.ipynb", as_version=4).cells[0].outputs == []
    write_notebook(tmp_path / "02_slow.ipynb", "import time; time.sleep(1)", "1 / 0", reads=[])
    assert main(["run-notebooks", str(tmp_path), "--jobs", "2"]) == 1  # both fail, side by side: both are named
    failed = [line.split()[0] for line in capsys.readouterr().err.splitlines() if " FAILED: " in line]
    assert failed == ["01_broken.ipynb", "02_slow.ipynb"], failed


@pytest.mark.cli
def test_ctrl_c_in_run_notebooks_jobs_2_stops_every_running_notebook_in_one_line(tmp_path):
    """Two notebooks side by side, both in a long cell: one Ctrl-C stops both and the command (exit 130, one line),
    saves neither and starts nothing more."""
    started = [tmp_path / "01.started", tmp_path / "02.started"]
    notebooks = [write_notebook(tmp_path / f"0{i}_slow.ipynb", f"open({str(mark)!r}, 'w').close()",
                                "import time\ntime.sleep(120)", reads=[]) for i, mark in enumerate(started, 1)]
    write_notebook(tmp_path / "03_never.ipynb", f"open({str(tmp_path / '03.ran')!r}, 'w').close()")
    before = [n.read_bytes() for n in notebooks]
    returncode, stderr = ctrl_c_run_notebooks(tmp_path, started, "--jobs", "2")
    assert returncode == 130, stderr
    assert stderr.strip().splitlines() == ["interrupted: run-notebooks stopped"], stderr
    assert [n.read_bytes() for n in notebooks] == before and not (tmp_path / "03.ran").exists()


@pytest.mark.cli
def test_run_notebooks_command_prints_what_doctor_reads_and_stops_at_a_failing_notebook(tmp_path, monkeypatch,
                                                                                       capsys):
    """The command's lines are the log ``doctor --calibrate`` reads; a failing notebook ends it with exit 1."""
    from mnistkit import doctor
    from mnistkit.__main__ import main

    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MNISTKIT_PROFILE", "full")
    write_notebook(tmp_path / "01_ok.ipynb", "print(6 * 7)")
    write_notebook(tmp_path / "02_also.ipynb", "x = 1")
    assert main(["run-notebooks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    times = doctor.wall_times_from_log(out)
    assert set(times) == {"01_ok", "02_also"} and all(0 < t < 120 for t in times.values()), out
    assert "all notebooks" in out.splitlines()[-1]
    assert nbformat.read(tmp_path / "01_ok.ipynb", as_version=4).cells[0].outputs[0].text == "42\n"  # in place
    monkeypatch.setenv("MNISTKIT_PROFILE", "quick")  # outputs of another profile than the committed: said so
    assert main(["run-notebooks", str(tmp_path), "--only", "01"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"{tmp_path} now holds the quick profile's outputs") and f"git restore {tmp_path}" in last

    write_notebook(tmp_path / "03_broken.ipynb", "1 / 0")
    write_notebook(tmp_path / "04_never.ipynb", "print('ran')")
    assert main(["run-notebooks", str(tmp_path), "--only", "03", "04"]) == 1
    captured = capsys.readouterr()
    assert "03_broken.ipynb" in captured.err and "FAILED:" in captured.err and "ZeroDivisionError" in captured.err
    never = nbformat.read(tmp_path / "04_never.ipynb", as_version=4)
    assert "04_never" not in captured.out and never.cells[0].outputs == []


@pytest.mark.cli
def test_ctrl_c_in_run_notebooks_stops_the_cell_then_the_command_in_one_line(tmp_path):
    """Ctrl-C at a terminal interrupts the running cell, as Jupyter's stop button does, then the command: exit 130,
    one line, no kernel traceback, the notebook on disk as it was."""
    started = tmp_path / "started"
    notebook = write_notebook(tmp_path / "01_slow.ipynb", f"open({str(started)!r}, 'w').close()",
                              "import time\ntime.sleep(120)")
    before = notebook.read_bytes()
    returncode, stderr = ctrl_c_run_notebooks(tmp_path, [started])
    assert returncode == 130, stderr
    assert stderr.strip().splitlines() == ["interrupted: run-notebooks stopped"], stderr
    assert notebook.read_bytes() == before


@pytest.mark.cli
def test_ctrl_c_as_a_cell_ends_stops_before_the_next_one(tmp_path):
    """A Ctrl-C as a cell ends (here the cell itself sends it) may reach the kernel after the cell's code, or no cell
    at all: the command still stops, in one line, within seconds; the next cell never runs; nothing is saved."""
    ran = tmp_path / "second-cell-ran"
    notebook = write_notebook(tmp_path / "01_two.ipynb", "import os, signal\nos.kill(os.getppid(), signal.SIGINT)",
                              "import time\ntime.sleep(2)", f"open({str(ran)!r}, 'w').close()")
    before = notebook.read_bytes()
    env = {**os.environ, "MNISTKIT_ARTIFACTS": str(tmp_path / "a"), "MNISTKIT_PROFILE": "full"}
    done = subprocess.run([sys.executable, "-m", "mnistkit", "run-notebooks", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120, preexec_fn=ctrl_c_as_at_a_terminal)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == ["interrupted: run-notebooks stopped"], done.stderr
    assert not ran.exists() and notebook.read_bytes() == before


def test_the_kill_after_a_ctrl_c_is_harmless_once_nbclient_has_cleaned_up(monkeypatch):
    """The kill timer a Ctrl-C starts can fire after the run has ended and nbclient has dropped its kernel manager:
    it then does nothing (it raised AttributeError, printed by asyncio under the one line of the interrupt)."""
    import asyncio
    import signal
    from types import SimpleNamespace

    from mnistkit import notebooks

    monkeypatch.setattr(notebooks, "KILL_AFTER_S", 0.05)
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                              preexec_fn=ctrl_c_as_at_a_terminal)
    km = SimpleNamespace(has_kernel=True, provisioner=SimpleNamespace(pid=kernel.pid))
    client = SimpleNamespace(km=km)
    interrupts, _ = notebooks._interrupt_the_kernel_on_ctrl_c(client)
    errors = []

    async def ctrl_c_then_cleanup():
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        client.on_notebook_start()  # takes over SIGINT in this loop
        client.on_cell_execute()
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.01)  # the handler interrupts the "kernel" and starts the kill timer
        client.km = None  # what nbclient does once the kernel is gone
        await asyncio.sleep(0.2)  # the timer fires

    try:
        asyncio.run(ctrl_c_then_cleanup())
        assert interrupts == [signal.SIGINT] and errors == []
        assert kernel.wait(timeout=10) == -signal.SIGINT  # the Ctrl-C reached the kernel's process group
    finally:
        kernel.kill()


@pytest.mark.cli
def test_the_kernels_own_stderr_stays_off_the_terminal_and_a_failure_quotes_it(tmp_path, capfd):
    """What the kernel process writes to its stderr (ipykernel's traceback when a Ctrl-C shuts it down mid-send, a
    crash's last words) is not the command's one line; a failing notebook's message ends with it."""
    from mnistkit import notebooks

    broken = write_notebook(tmp_path / "01_noisy.ipynb", "import os\nos.write(2, b'straight to fd 2\\n')\n1 / 0")
    capfd.readouterr()
    with pytest.raises(notebooks.NotebookError, match="ZeroDivisionError") as failed:
        notebooks.execute_notebook(broken)
    assert "\nkernel: straight to fd 2" in str(failed.value) and "straight to fd 2" not in capfd.readouterr().err


@pytest.mark.cli
def test_run_notebooks_says_which_step_failed_and_where_the_copy_went(tmp_path, monkeypatch, capfd):
    """Not a notebook, a failing cell, a copy that cannot be kept, a result that cannot be saved: each said as it is,
    and the notebook on disk left as it was."""
    from mnistkit import notebooks

    (tmp_path / "01_garbage.ipynb").write_text("{ not json")
    with pytest.raises(notebooks.NotebookError, match="cannot read .*01_garbage.ipynb as a notebook") as failed:
        notebooks.execute_notebook(tmp_path / "01_garbage.ipynb", failed_dir=tmp_path / "failed")
    assert "copy" not in str(failed.value) and not (tmp_path / "failed").exists()

    broken = write_notebook(tmp_path / "02_broken.ipynb", "x = 1", "1 / 0")
    before = broken.read_bytes()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(notebooks.NotebookError, match="ZeroDivisionError") as failed:
        notebooks.execute_notebook(broken, failed_dir=tmp_path / "a-file" / "failed")
    assert "no copy was kept: cannot write to" in str(failed.value) and broken.read_bytes() == before
    assert "\x1b[" not in str(failed.value)  # the traceback without the browser's colour codes

    capfd.readouterr()
    ok = write_notebook(tmp_path / "04_ok.ipynb", "import json, ipykernel.connect\n"
                        "print(json.loads(open(ipykernel.connect.get_connection_file()).read())['transport'])")
    notebooks.execute_notebook(ok)
    assert "WARNING" not in capfd.readouterr().err  # the kernel's TCP-without-encryption warning, once per notebook
    # over Unix sockets, no TCP port that a kernel started beside it could take first
    assert nbformat.read(ok, 4).cells[0].outputs[0]["text"].strip() == ("ipc" if os.name == "posix" else "tcp")

    fine = write_notebook(tmp_path / "03_fine.ipynb", "print(6 * 7)")
    before, real_write = fine.read_bytes(), notebooks.atomic_write_bytes

    def read_only_folder(dest, data):
        if Path(dest).parent == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real_write(dest, data)

    monkeypatch.setattr(notebooks, "atomic_write_bytes", read_only_folder)
    with pytest.raises(notebooks.NotebookError, match=r"it ran \(\d+ s\) but cannot be saved in place \(Permission "
                                                      r"denied\); the executed copy is .*failed.03_fine.ipynb"):
        notebooks.execute_notebook(fine, failed_dir=tmp_path / "failed")
    assert fine.read_bytes() == before and "42" in (tmp_path / "failed" / "03_fine.ipynb").read_text()
