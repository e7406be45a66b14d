# hff-edu: `make setup` once, then `make test` / `make notebooks` / `make results`.
# Everything runs inside the project's own virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= classroom
# CPU-only torch where the CUDA build is not wanted: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup data kernel test unit notebooks strip results lab clean help

help:
	@echo "make setup      create $(VENV), install hff-edu with its dev extra, register the Jupyter kernel, get offline data"
	@echo "make test       unit tests + every notebook executed with papermill in the smoke profile"
	@echo "make unit       unit tests only"
	@echo "make notebooks  execute every notebook (PROFILE=smoke|classroom|full) into build/notebooks/, with HTML"
	@echo "make strip      remove outputs from the source notebooks"
	@echo "make results    the README's results table (four methods x 3 seeds on Fashion-MNIST, about an hour on 2 cores)"
	@echo "make lab        open the suite in JupyterLab"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

setup: $(PY)
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e '.[dev]'
	$(MAKE) kernel data

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

clean:
	rm -rf build .pytest_cache
