"""The in-process command runner the CLI tests use shows what a user of ``python -m mnistkit`` would see."""
import sys
import warnings

import mnistkit.__main__ as cli


def test_warnings_a_user_would_see_end_up_on_stderr_and_quiet_ones_do_not(mnistkit_in_process, monkeypatch):
    def leaderboard(args):
        warnings.warn("a stray warning", UserWarning)
        warnings.warn("deprecated inside a library", DeprecationWarning)
        print("table")
        print("a line on stderr", file=sys.stderr)
        return 0

    monkeypatch.setattr(cli, "_leaderboard", leaderboard)
    done = mnistkit_in_process("leaderboard")
    assert done.returncode == 0 and done.stdout == "table\n"
    assert done.stderr.startswith("a line on stderr\n") and "UserWarning: a stray warning" in done.stderr
    assert "deprecated" not in done.stderr


def test_usage_errors_and_the_environment_reach_main(mnistkit_in_process):
    done = mnistkit_in_process("leaderboard", "--no-such-option")
    assert done.returncode == 2 and "unrecognized arguments: --no-such-option" in done.stderr
    done = mnistkit_in_process("leaderboard", env={"MNISTKIT_PROFILE": "huge"})
    assert done.returncode == 2 and done.stderr.startswith("error: unknown profile 'huge'")


def test_a_python_without_the_packages_gets_one_line_naming_the_venv(mnistkit_in_process, monkeypatch):
    """``python -m mnistkit leaderboard`` run by a Python that lacks pandas (not .venv's): one line, no traceback."""
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails as it does where pandas is missing
    done = mnistkit_in_process("leaderboard")
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done
    assert done.stderr.startswith("error: No module named 'pandas'")
    assert ".venv/bin/python -m mnistkit leaderboard" in done.stderr
