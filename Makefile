# skinbench: every target does its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RESULTS ?= results

.PHONY: install test test-all demo reproduce bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m ''

demo: install
	rm -rf $(RESULTS)/demo
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --out $(RESULTS)/demo
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --split lesion --out $(RESULTS)/demo
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --split leaky --out $(RESULTS)/demo
	$(BIN)/skinbench ablate mobilenetv3 --smoke --dataset synthetic --out $(RESULTS)/demo
	for cell in $(RESULTS)/demo/*-metadata-paper-s0 $(RESULTS)/demo/*-ablation-cut230-paper-s0; do $(BIN)/skinbench export $$cell --format tflite-int8 || exit 1; done
	for cell in $(RESULTS)/demo/*-paper-s*/ $(RESULTS)/demo/*-leaky-s*/ $(RESULTS)/demo/*-lesion-s*/; do $(BIN)/skinbench explain $$cell --per-class 1 || exit 1; done
	$(BIN)/skinbench report $(RESULTS)/demo
	$(BIN)/python benchmarks/demo_check.py $(RESULTS)/demo results/demo-reference

# Without DATA=, HAM10000 and the ISIC 2018 Task 3 test set are fetched into data/ first
# (resumable; a complete data/ downloads nothing).
reproduce: install
	$(if $(DATA),,$(BIN)/skinbench data fetch data --with-test)
	$(BIN)/skinbench run --matrix full --data-dir $(or $(DATA),data) --out $(RESULTS)/full
	$(BIN)/skinbench ablate mobilenetv3 --data-dir $(or $(DATA),data) --out $(RESULTS)/full
	$(BIN)/skinbench report $(RESULTS)/full

bench: install
	$(BIN)/python benchmarks/pipeline_vs_keras.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(RESULTS)/demo demo-data
