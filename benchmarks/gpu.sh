#!/usr/bin/env bash
# The GPU figures in one command (README, "GPU"): ingest pages/s, embedding chunks/s, FAISS
# search p50 on the GPU against the CPU, MaxSim rerank ms/query, vLLM tokens/s against the
# card's bandwidth bound. Without a GPU it runs the CPU side and says what it skipped and why.
#   benchmarks/gpu.sh                                  # 1M vectors, vLLM on the packaged model
#   benchmarks/gpu.sh --vectors 20000 --embed-chunks 500 --no-vllm   # a small run
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-.venv/bin/python}" -m bench gpu "$@"
