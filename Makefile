# skinbench: every target does its own set-up on a fresh machine.
# GPU=1 (or GPU=jax) installs JAX with CUDA 12, the backend recommended on a GPU; GPU=tensorflow
# installs TensorFlow's CUDA libraries. Without GPU the install is the CPU one.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RESULTS ?= results
GPU    ?=
GPU_EXTRA   = $(if $(filter tensorflow,$(GPU)),gpu-tensorflow,$(if $(GPU),gpu))
GPU_BACKEND = $(if $(filter tensorflow,$(GPU)),tensorflow,jax)
EXTRAS = dev$(if $(GPU_EXTRA),+$(GPU_EXTRA))
STAMP  = $(VENV)/.installed-$(EXTRAS)
comma := ,

.PHONY: install test test-all demo demo-full docs reproduce bench clean

install: $(STAMP)

$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(subst +,$(comma),$*)]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m ''

# A few minutes on a 2-core CPU: the demo matrix (MobileNetV3Small, both recipes, 5 epochs at 64 px)
# on the embedded synthetic set, one seed, then its report.
demo: install
	rm -rf $(RESULTS)/demo
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0 --out $(RESULTS)/demo
	$(BIN)/skinbench report $(RESULTS)/demo --bootstrap 200

# The whole demo (about half an hour on a 2-core CPU): three seeds under the paper, lesion and leaky
# splits, the smoke ablation, exports, attention maps, the report, compared with the committed one.
demo-full: install
	rm -rf $(RESULTS)/demo-full
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --out $(RESULTS)/demo-full
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --split lesion --out $(RESULTS)/demo-full
	$(BIN)/skinbench run --matrix demo --dataset synthetic --seeds 0,1,2 --split leaky --out $(RESULTS)/demo-full
	$(BIN)/skinbench ablate mobilenetv3 --smoke --dataset synthetic --out $(RESULTS)/demo-full
	for cell in $(RESULTS)/demo-full/*-metadata-paper-s0 $(RESULTS)/demo-full/*-ablation-cut230-paper-s0; do $(BIN)/skinbench export $$cell --format tflite-int8 || exit 1; done
	for cell in $(RESULTS)/demo-full/*-paper-s*/ $(RESULTS)/demo-full/*-leaky-s*/ $(RESULTS)/demo-full/*-lesion-s*/; do $(BIN)/skinbench explain $$cell --per-class 1 || exit 1; done
	$(BIN)/skinbench report $(RESULTS)/demo-full
	$(BIN)/python benchmarks/demo_check.py $(RESULTS)/demo-full results/demo-reference

# On a GPU: the GPU install (GPU=1 unless given) and its backend. Without DATA=, HAM10000 and
# the ISIC 2018 Task 3 test set are fetched into data/ first (resumable; a complete data/
# downloads nothing).
reproduce:
	$(MAKE) install GPU=$(or $(GPU),1)
	$(if $(DATA),,$(BIN)/skinbench data fetch data --with-test)
	KERAS_BACKEND=$(GPU_BACKEND) $(BIN)/skinbench run --matrix full --data-dir $(or $(DATA),data) --out $(RESULTS)/full
	KERAS_BACKEND=$(GPU_BACKEND) $(BIN)/skinbench ablate mobilenetv3 --data-dir $(or $(DATA),data) --out $(RESULTS)/full
	$(BIN)/skinbench report $(RESULTS)/full

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: install
	$(BIN)/python benchmarks/pipeline_vs_keras.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache $(RESULTS)/demo $(RESULTS)/demo-full demo-data
