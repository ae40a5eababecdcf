"""keras-tuner's chief/worker engine on loopback only (127.0.0.1), with a tiny budget."""
import pytest
from commands import ctrl_c_as_at_a_terminal

from mnistkit import distributed


@pytest.mark.distributed
def test_chief_and_two_workers_share_the_trials(tmp_path, mnist):
    messages = []
    table = distributed.run_search(workers=2, host="127.0.0.1", tuner="random", max_trials=8, epochs=1,
                                   train_size=600, directory=tmp_path, log=messages.append)
    assert any("chief serving on 127.0.0.1:" in m for m in messages)
    assert not any("died" in m for m in messages), messages
    done = table[table["status"] == "COMPLETED"]
    assert len(done) >= 4 and done["val_accuracy"].notna().all()
    assert set(done["worker"]) == {"tuner0", "tuner1"}, table[["trial", "worker"]]


def test_a_node_without_a_role_explains_the_variables(tmp_path, monkeypatch):
    monkeypatch.delenv(distributed.ROLE, raising=False)
    with pytest.raises(RuntimeError, match="KERASTUNER_TUNER_ID is not set"):
        distributed.run_node(directory=tmp_path, project="p", tuner="random", max_trials=1, epochs=1,
                             train_size=10, seed=0)


def processes_mentioning(text):
    """PIDs of live processes whose command line contains ``text`` (Linux /proc)."""
    from pathlib import Path
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.distributed
def test_ctrl_c_stops_the_chief_and_every_worker(tmp_path, mnist):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to find the child processes")
    proc = subprocess.Popen([sys.executable, "-m", "mnistkit", "tune", "--workers", "2", "--max-trials", "50",
                             "--epochs", "3", "--train-size", "2000", "--directory", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, preexec_fn=ctrl_c_as_at_a_terminal)
    try:
        for line in proc.stdout:
            if "chief serving on 127.0.0.1" in line:
                break
        time.sleep(3)
        assert len(processes_mentioning(str(tmp_path))) >= 3  # the command, the chief, the workers
        os.killpg(proc.pid, signal.SIGINT)                    # what Ctrl-C in a terminal does
        assert proc.wait(timeout=60) == 130
        time.sleep(1)
        assert processes_mentioning(str(tmp_path)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_more_workers_than_the_machine_can_run_are_refused_before_anything_starts(tmp_path):
    too_many = distributed.max_workers() + 1
    with pytest.raises(ValueError, match=f"workers={too_many} is more than this machine can run .*use 1 to"):
        distributed.run_search(workers=too_many, directory=tmp_path)
    assert not any(tmp_path.iterdir())


def fake_processes(monkeypatch, *, exit_codes=None, interrupt_at=None) -> list:
    """Stand-ins for the chief and worker processes run_search starts (a chief already serving); returns the list of
    those started. ``exit_codes`` by role (None: still running), ``interrupt_at``: Ctrl-C as that many are up."""
    import time

    started = []

    class FakeProcess:
        def __init__(self, cmd, env):
            if len(started) == interrupt_at:
                raise KeyboardInterrupt
            self.role, self.signals = env[distributed.ROLE], []
            self.returncode = (exit_codes or {}).get(self.role)
            started.append(self)

        def poll(self):
            return self.returncode

        def send_signal(self, sig):
            self.signals.append(sig)
            self.returncode = -sig

        def wait(self, timeout=None):
            if self.returncode is None and timeout is not None:  # still running: Popen.wait raises after the timeout
                time.sleep(timeout)
                raise distributed.subprocess.TimeoutExpired("fake", timeout)
            return self.returncode

    monkeypatch.setattr(distributed.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(distributed, "wait_for_chief", lambda *args, **kwargs: None)
    return started


def test_ctrl_c_while_the_workers_start_stops_every_process_already_started(tmp_path, monkeypatch):
    """Ctrl-C can land between two worker starts: the ones already running must be stopped too."""
    import signal

    started = fake_processes(monkeypatch, interrupt_at=3)  # the chief and two workers are up when Ctrl-C comes
    with pytest.raises(KeyboardInterrupt):
        distributed.run_search(workers=5, directory=tmp_path, log=lambda message: None)
    assert [p.role for p in started] == ["chief", "tuner0", "tuner1"]
    assert all(p.signals == [signal.SIGTERM] for p in started)


def test_the_search_returns_when_the_workers_are_done_and_names_a_dead_one(tmp_path, monkeypatch):
    """keras-tuner's chief rechecks only every 20 s whether a search is over (and never while a dead worker's trial is
    open): once the workers have exited, run_search stops it instead of waiting."""
    import signal
    import time

    started = fake_processes(monkeypatch, exit_codes={"tuner0": 0, "tuner1": 1})
    messages, start = [], time.monotonic()
    table = distributed.run_search(workers=2, directory=tmp_path, log=messages.append)
    assert time.monotonic() - start < 10
    assert started[0].role == "chief" and started[0].signals == [signal.SIGTERM]
    assert any("worker tuner1 died (exit code 1); the other workers carry on" in m for m in messages), messages
    assert any("the chief is still waiting on trials of dead workers; stopping it" in m for m in messages), messages
    assert table.empty


@pytest.mark.parametrize("role", ["chief", "tuner0"])
@pytest.mark.parametrize("env, needle", [({distributed.PORT: "99999"}, "KERASTUNER_ORACLE_PORT='99999' is not valid"),
                                         ({distributed.PORT: "abc"}, "KERASTUNER_ORACLE_PORT='abc' is not valid"),
                                         ({distributed.PORT: "8000", distributed.IP: "no.such.host.invalid"},
                                          "KERASTUNER_ORACLE_IP='no.such.host.invalid' does not resolve")])
def test_a_node_with_a_bad_chief_address_says_which_variable_before_loading_anything(role, env, needle, tmp_path,
                                                                                      monkeypatch):
    from mnistkit import data

    monkeypatch.setenv(distributed.ROLE, role)
    monkeypatch.delenv(distributed.IP, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(data, "load_mnist_splits", lambda **kwargs: pytest.fail("loaded MNIST first"))
    with pytest.raises(RuntimeError, match=needle):
        distributed.run_node(directory=tmp_path, project="p", tuner="random", max_trials=1, epochs=1,
                             train_size=10, seed=0, chief_timeout=1)


def test_a_folder_that_cannot_be_written_is_refused_before_anything_starts(tmp_path, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(distributed.subprocess, "Popen", lambda *a, **k: pytest.fail("started a process"))
    with pytest.raises(ValueError, match="cannot be written \\(Permission denied\\); give a folder you can write to"):
        distributed.run_search(workers=1, directory=tmp_path / "tuning")


def test_waiting_for_a_chief_stops_when_it_exits_or_the_time_is_up():
    import subprocess
    import sys

    port = distributed.free_port()
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(RuntimeError, match=f"the chief exited with code 3 before serving on 127.0.0.1:{port}"):
        distributed.wait_for_chief("127.0.0.1", port, 30, chief=dead)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(RuntimeError, match=f"no chief answered on 127.0.0.1:{port} within 0 s; see its output"):
            distributed.wait_for_chief("127.0.0.1", port, 0.2, chief=alive)
    finally:
        alive.kill()
        alive.wait()
