"""The package's shape: plumbing in modules of one concern each, no private names shared between them."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mnistkit

PACKAGE = Path(mnistkit.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                offenders += [f"{path.name}: from .{node.module} import {a.name}"
                              for a in node.names if a.name.startswith("_")]
    assert offenders == []


def test_each_module_says_its_concern_in_its_first_line():
    for path in MODULES:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.splitlines()[0].strip(), f"{path.name} has no one-line summary"


def test_modules_stay_small():
    sizes = {path.name: len(path.read_text().splitlines()) for path in MODULES}
    assert {name: n for name, n in sizes.items() if n > 350} == {}


def test_every_module_a_notebook_may_use_is_reachable_as_mk_dot_name():
    # `mk.<module>` loads on first use only for the names in __all__; the CLI, doctor and serve are commands.
    commands = {"__init__", "__main__", "doctor", "files", "notebooks", "serve"}
    assert sorted({path.stem for path in MODULES} - commands) == sorted(mnistkit.__all__)


@pytest.mark.cli
def test_a_notebook_that_uses_mk_training_can_load_models_saved_with_mk_augmentation():
    # 08 opens 07's CNNs with keras.saving.load_model after touching only mk.training: mnistkit's layers must be
    # registered by then (a fresh process, since this one has imported everything already).
    code = "import sys, mnistkit.training; print('mnistkit.models' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-1000:]


@pytest.mark.cli
def test_importing_the_package_in_a_notebook_kernel_imports_nothing_else():
    # Nothing at import time beyond the import: no TensorFlow, no file-descriptor tricks, even under ipykernel.
    code = ("import sys, types; sys.modules['ipykernel'] = types.ModuleType('ipykernel'); import mnistkit; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'mnistkit.training') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-1000:]
