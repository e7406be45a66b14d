# hff-edu: `make setup` once, then `make test` / `make notebooks` / `make results`.
# Everything runs inside the project's own virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= classroom
# CPU-only torch where the CUDA build is not wanted: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup data kernel js test unit notebooks strip results lab clean help \
        student student-check book site-test dist install-test warm-cache

help:
	@echo "make setup      create $(VENV), install hff-edu with its dev extra, register the Jupyter kernel, get offline data"
	@echo "make test       unit tests + every notebook executed with papermill in the smoke profile"
	@echo "make unit       unit tests only"
	@echo "make notebooks  execute every notebook (PROFILE=smoke|classroom|full) into build/notebooks/, with HTML"
	@echo "make strip      remove outputs from the source notebooks"
	@echo "make results    the README's results table (four methods x 3 seeds on Fashion-MNIST, about an hour on 2 cores)"
	@echo "make lab        open the suite in JupyterLab"
	@echo "make student    student versions (solutions -> stubs) in build/student/, nbgrader sources in build/teacher/"
	@echo "make student-check  run teacher and student versions (PROFILE=smoke|classroom), compare exercise counts"
	@echo "make book       the course website (PROFILE=classroom|smoke) in build/book/<profile>/_build/html"
	@echo "make site-test  open the site built for PROFILE in headless Chromium with the network blocked"
	@echo "make dist       the wheel (ships the notebooks) in dist/; hff-edu course DEST [--student] writes the course"
	@echo "make install-test  the wheel in a fresh virtual environment: hff-edu course, a notebook, nbgrader (minutes)"
	@echo "make warm-cache train and cache every model of the classroom profile before a class"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

setup: $(PY)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e '.[dev]'
	$(MAKE) kernel data js

kernel:
	$(PY) -m ipykernel install --sys-prefix --name hff-edu --display-name "Python (hff-edu)"

# MathJax and the Jupyter widget renderer for offline pages (the site, the HTML exports), from npm
js:
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix js --no-audit --no-fund; \
	else echo "npm not found: install Node.js (apt-get install npm) for offline HTML and make book"; fi

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

test: unit
	$(PY) -m hff_edu.notebook_runner --profile smoke

unit:
	$(PY) -m pytest

notebooks:
	$(PY) -m hff_edu.notebook_runner --profile $(PROFILE) --html

strip:
	$(PY) -m hff_edu.notebook_runner --strip

results:
	$(PY) benchmarks/accuracy.py --threads 1

lab:
	$(VENV)/bin/jupyter lab notebooks/

# ---- the classroom edition (hff_edu/course.py, book/, docs/teaching.md)
student:
	$(PY) -m hff_edu.course student

student-check:
	$(PY) -m hff_edu.course check --profile $(PROFILE)

book:
	$(PY) book/build.py --profile $(PROFILE)

site-test:
	HFF_EDU_SITE_PROFILE=$(PROFILE) $(PY) -m pytest -q tests/browser/test_site.py

dist:
	$(PY) -m pip wheel --no-deps -w dist .
	@ls -l dist/*.whl

install-test:
	$(PY) -m pytest -q -s tests/install

warm-cache:
	$(PY) -m hff_edu.course warm-cache --profile classroom

clean:
	rm -rf build dist .pytest_cache
