# hff-edu: `make setup` once, then `make test` / `make notebooks` / `make results`.
# Everything runs inside the project's own virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= classroom
# CPU-only torch where the CUDA build is not wanted: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup data kernel js chromium test unit browser notebooks strip results lab lab-reset clean help

help:
	@echo "make setup      create $(VENV), install hff-edu with its dev extra, register the Jupyter kernel, get offline data"
	@echo "make test       unit tests, every notebook in the smoke profile (with offline HTML), then the browser tests"
	@echo "make unit       unit tests only"
	@echo "make browser    the browser tests only: JupyterLab and the offline HTML in headless Chromium"
	@echo "make notebooks  execute every notebook (PROFILE=smoke|classroom|full) into build/notebooks/, with HTML"
	@echo "make strip      remove outputs from the source notebooks"
	@echo "make results    the README's results table (four methods x 3 seeds on Fashion-MNIST, about an hour on 2 cores)"
	@echo "make lab        open the suite in JupyterLab, on working copies in build/lab/ (the sources stay clean)"
	@echo "make lab-reset  replace the working copies in build/lab/ with fresh copies of the sources"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

setup: $(PY)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e '.[dev]'
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

# MathJax and the widget renderer for the offline HTML, from npm with the committed lock file
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
	$(PY) -m hff_edu.notebook_runner --profile smoke --html
	$(MAKE) browser

browser:
	$(PY) -m pytest tests/browser

unit:
	$(PY) -m pytest

notebooks:
	$(PY) -m hff_edu.notebook_runner --profile $(PROFILE) --html

strip:
	$(PY) -m hff_edu.notebook_runner --strip

results:
	$(PY) benchmarks/accuracy.py --threads 1

# JupyterLab on working copies (build/lab/): its autosave can never write outputs into notebooks/
lab:
	$(PY) -m hff_edu.notebook_runner --lab-copies
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=build/lab $(if $(filter 0,$(shell id -u)),--allow-root)

lab-reset:
	$(PY) -m hff_edu.notebook_runner --lab-reset

# keeps build/lab/: the working copies hold the user's work (make lab-reset replaces them)
clean:
	rm -rf $(filter-out build/lab,$(wildcard build/*)) .pytest_cache
