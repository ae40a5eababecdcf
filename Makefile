# The README's commands. `make test` and `make run` set everything up first; both are safe to repeat.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mnistkit-installed
NOTEBOOKS_DIR := notebooks

# Quiet TensorFlow start-up (C++ log lines) in every command below, notebooks included.
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup data test unit lint run bench lab clean lock

setup: $(STAMP) data          ## .venv + pinned packages + mnistkit (editable) + verified MNIST

# A fresh clone's `make test` used at most 3.2 GiB of disk (the .venv alone is 2.9 GiB): say so before pip
# half-fills the disk and stops on 'No space left on device'.
NEEDS_GIB := 3.5

$(PY):
	@$(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 2**30; \
	sys.exit(f'make setup needs about $(NEEDS_GIB) GiB free disk for .venv and the data; {free:.1f} GiB free here') \
	if free < $(NEEDS_GIB) else None; \
	sys.exit(f'make setup needs Python 3.11 or 3.12 (the lock needs them); $(PYTHON) is {sys.version.split()[0]}: ' \
	'make setup PYTHON=python3.11') if sys.version_info[:2] not in ((3, 11), (3, 12)) else None"
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the lock or the package metadata changed.
$(STAMP): requirements.lock setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e ".[dev,deploy]"
	$(PY) -m pip check
	touch $@

data: $(STAMP)                ## fetch + verify MNIST (no download when the cache is good)
	$(PY) -m mnistkit fetch

# Two pytest-xdist workers: the lessons run in order on one, the solutions of 01-07 on the other (the scheduler in
# notebooks/conftest.py), while the tests in tests/ go to whichever worker is free.
test: setup lint              ## the linter, then the unit tests and every notebook (quick profile) on two workers
	MNISTKIT_PROFILE=$${MNISTKIT_PROFILE:-quick} $(PY) -m pytest -n 2

lint: $(STAMP)                ## ruff (pyflakes, pycodestyle, import order) on code and notebooks; see pyproject.toml
	$(VENV)/bin/ruff check .

unit: setup                   ## the fast unit tests (no notebooks, benchmarks, new processes or browser), on 2 workers
	$(PY) -m pytest tests -n 2 -m "not (slow or benchmark or distributed or browser or cli)"

# In full one notebook at a time (each footer is its time alone); in workshop and quick two at a time where they read
# nothing of each other's. JOBS=N overrides: MNISTKIT_PROFILE=workshop make run JOBS=1
run: setup                    ## execute every notebook in place, full profile, fresh kernel each
	MNISTKIT_PROFILE=$${MNISTKIT_PROFILE:-full} $(PY) -m mnistkit run-notebooks $(NOTEBOOKS_DIR) $(if $(JOBS),--jobs $(JOBS))

# Each script in full, one after the other (hours on 2 cores: modern_cnn_variants trains a 12-epoch CNN per variant);
# each writes benchmarks/results/<script>.json; report.py prints the tables benchmarks/README.md shows. One: make bench BENCH=throughput
BENCH ?= time_to_accuracy throughput input_pipeline seed_ensemble modern_cnn_variants
bench: setup                  ## rerun the benchmarks in full, rewrite benchmarks/results/*.json, print their tables
	set -e; for b in $(BENCH); do $(PY) benchmarks/$$b.py; done
	$(PY) benchmarks/report.py $(BENCH)

lab: setup                    ## JupyterLab on the notebooks
	$(PY) -m jupyter lab $(NOTEBOOKS_DIR)

clean:                        ## artifacts only (models, logs, tuner trials); never the data cache
	rm -rf artifacts

lock:                         ## re-pin requirements.lock from the current .venv
	{ echo "# Pinned versions that 'make setup' installs: exactly what the notebooks were tested with."; \
	  echo "# Regenerate with: make lock"; \
	  $(PY) -m pip freeze --all --exclude-editable | grep -v -i -E '^(pip|mnistkit)=='; } > requirements.lock
