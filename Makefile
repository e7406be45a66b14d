# hff-edu: `make setup` once, then `make test` / `make notebooks` / `make results`.
# Everything runs inside the project's own virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= classroom
# CPU-only torch where the CUDA build is not wanted: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# The dependency set CI tested (pip constraints written by `make lock` with uv, for Python 3.10-3.13 on
# Linux, macOS and Windows). `make setup LOCK=` installs the newest releases within pyproject's ranges instead.
LOCK ?= .ci/tested-constraints.txt
# the environment of `make test-latest` (the newest releases): kept apart from .venv
LATEST_VENV ?= .venv-latest

.PHONY: setup data kernel js chromium test unit browser notebooks strip results lab lab-reset clean help \
        student student-check slides book site-test dist install-test warm-cache repro lock test-latest claims-sweep

help:
	@echo "make setup      create $(VENV), install hff-edu with its dev extra (the tested set: $(LOCK)), register the Jupyter kernel, get offline data"
	@echo "make test-latest  the newest releases within pyproject's ranges in $(LATEST_VENV): unit tests, JupyterLab and Notebook 7 in the browser"
	@echo "make lock       regenerate $(LOCK) from pyproject.toml (uv pip compile --universal)"
	@echo "make claims-sweep  every notebook (classroom) with SEED = 0..4: which claims held for which seed"
	@echo "make test       unit tests, every notebook in the smoke profile (with offline HTML), the smoke site, then the browser tests"
	@echo "make unit       unit tests only"
	@echo "make repro      the reproducibility tests under other CPU code paths (MKL AVX2/SSE4.2, ATen default, 1 and 2 threads)"
	@echo "make browser    the browser tests only: JupyterLab and the offline HTML in headless Chromium"
	@echo "make notebooks  execute every notebook (PROFILE=smoke|classroom|full) into build/notebooks/, with HTML"
	@echo "make strip      remove outputs from the source notebooks"
	@echo "make results    the tuning study (resumed from benchmarks/results/tune_*.journal; delete it to re-tune) and the README's table, retrained from scratch"
	@echo "make lab        open the suite in JupyterLab, on working copies in build/lab/ (the sources stay clean)"
	@echo "make lab-reset  replace the working copies in build/lab/ with fresh copies of the sources"
	@echo "make student    student versions (solutions -> stubs) in build/student/, nbgrader sources in build/teacher/"
	@echo "make student-check  run teacher and student versions (PROFILE=smoke|classroom), compare exercise counts"
	@echo "make book       the course website (PROFILE=classroom|smoke) in build/book/<profile>/_build/html"
	@echo "make slides     reveal.js slides of every notebook from its executed copy (build/slides/)"
	@echo "make site-test  open the site built for PROFILE in headless Chromium with the network blocked"
	@echo "make dist       the wheel (ships the notebooks) in dist/; hff-edu course DEST [--student] writes the course"
	@echo "make install-test  the wheel in a fresh virtual environment (hff-edu course, a notebook, nbgrader) and a simulated hosted kernel (each notebook's first cell installs the course; HFF_EDU_HOSTED_NOTEBOOKS=\"00 04\" picks some) (minutes)"
	@echo "make warm-cache train and cache every model of the classroom profile before a class"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

setup: $(PY)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) $(if $(LOCK),-c $(LOCK)) -e '.[dev]'
	$(MAKE) kernel data js chromium

kernel:
	$(PY) -m ipykernel install --sys-prefix --name hff-edu --display-name "Python (hff-edu)"

# Fashion-MNIST offline: Debian's package when apt is there (root or sudo); otherwise
# data.load() falls back to torchvision's download on first use.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: found Debian's dataset-fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) \
	  || echo "could not install dataset-fashion-mnist: data.load will try torchvision's download"; \
	else \
	  echo "Fashion-MNIST: not installed; run 'sudo apt-get install dataset-fashion-mnist' or let torchvision download it"; \
	fi

# MathJax and the widget renderer for the offline HTML and the site, from npm with the committed lock file
js:
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix js --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the offline HTML export (make notebooks, make test) needs Node.js and npm"; fi

# Chromium and ChromeDriver for the browser tests: Debian's packages when apt-get is there and we are root
chromium:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
	  echo "chromium: found"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq chromium chromium-driver || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)) \
	  || echo "could not install chromium: the browser tests will skip"; \
	else \
	  echo "chromium: not installed; 'sudo apt-get install chromium chromium-driver' for the browser tests (they skip without it)"; \
	fi

test: unit
	$(PY) -m hff_edu.course run --profile smoke --html --jobs $(NOTEBOOK_JOBS)
	$(PY) -m hff_edu.course site --profile smoke
	$(MAKE) browser

browser:
	$(PY) -m pytest tests/browser

# notebooks run at once by make notebooks / make test (one kernel and one torch thread each; 08 runs alone)
NOTEBOOK_JOBS ?= 2
# the unit tests on every core (pytest-xdist: one worker per CPU; UNIT_JOBS=0 runs them in this process)
UNIT_JOBS ?= auto
unit:
	$(PY) -m pytest $(if $(filter 0,$(UNIT_JOBS)),,-n $(UNIT_JOBS))

# the newest releases pip resolves today within pyproject's ranges, in their own environment: the next
# JupyterLab or torch release breaks a check here before it breaks a class
# (the browser part: the frontends under their newest releases; the offline HTML and the site are the
# ones make test exported with the tested set, so opening them again would test nothing new)
test-latest:
	rm -rf $(LATEST_VENV)
	$(MAKE) setup unit VENV=$(LATEST_VENV) LOCK=
	$(LATEST_VENV)/bin/python -m pytest tests/browser/test_lab_widgets.py
	$(LATEST_VENV)/bin/python -m pip freeze | grep -iE '^(torch|jupyterlab|ipywidgets|notebook|numpy|selenium|plotly)=='

# the tested set, regenerated from pyproject.toml: every Python 3.10-3.13 and platform in one file (uv's
# universal resolution); torch held at what CI machines can install (.ci/torch-cap.txt)
lock:
	$(PY) -m pip install -q 'uv>=0.9'
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.10 \
	    --constraint .ci/torch-cap.txt -o $(LOCK)

claims-sweep:
	$(PY) benchmarks/claims_sweep.py --profile $(PROFILE) --seeds 0,1,2,3,4

# the same seed, the same numbers on every CPU: tests/test_reference.py and tests/test_portable.py under
# other MKL/ATen code paths and thread counts, then every model kind's seeded run compared across them
repro:
	$(PY) benchmarks/portability.py

notebooks:
	$(PY) -m hff_edu.course run --profile $(PROFILE) --html --jobs $(NOTEBOOK_JOBS)

strip:
	$(PY) -m hff_edu.course strip

results:
	$(PY) benchmarks/tune.py --threads 1
	$(PY) benchmarks/accuracy.py --threads 1 --jobs 2 --fresh

# JupyterLab on working copies (build/lab/): its autosave can never write outputs into notebooks/
lab:
	$(PY) -m hff_edu.course lab
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=build/lab $(if $(filter 0,$(shell id -u)),--allow-root)

# ---- the classroom edition (hff_edu/course/, book/, docs/teaching.md)
student:
	$(PY) -m hff_edu.course student

student-check:
	$(PY) -m hff_edu.course check --profile $(PROFILE)

# the teacher's slides from the run the class will see (make notebooks first): build/slides/
slides:
	$(PY) -m hff_edu.course slides build/notebooks/$(PROFILE)

book:
	$(PY) -m hff_edu.course site --profile $(PROFILE)

site-test:
	HFF_EDU_SITE_PROFILE=$(PROFILE) $(PY) -m pytest -q tests/browser/test_site.py

dist:
	$(PY) -m pip wheel --no-deps -w dist .
	@ls -l dist/*.whl

install-test:
	$(PY) -m pytest -q -s tests/install

warm-cache:
	$(PY) -m hff_edu.course warm-cache --profile classroom

lab-reset:
	$(PY) -m hff_edu.course lab --reset

# keeps build/lab/: the working copies hold the user's work (make lab-reset replaces them)
clean:
	rm -rf $(filter-out build/lab,$(wildcard build/*)) dist .pytest_cache
