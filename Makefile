# spikebit: `make demo` runs the main job, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint docs bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	# NIR clients for the export tests; --no-deps keeps norse's torchvision out
	$(PIP) install --quiet --no-deps snntorch==1.0.0 norse==1.1.0
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikebit data fetch fashion-mnist
	$(VENV)/bin/spikebit train configs/demo.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools

test: $(STAMP) lint docs
	$(PY) -m pytest tests

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(PY) benchmarks/neuron_speed.py

clean:
	rm -rf $(VENV) build site *.egg-info
