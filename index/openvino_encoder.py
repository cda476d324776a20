"""Transformer encoders compiled by OpenVINO, for the CPU.

A BERT-style encoder (MiniLM, e5) is converted from its torch module once, when it is first
used, and OpenVINO's CPU plugin runs it: in bfloat16 on AMX where the CPU has it, with fused
attention and layer kernels that eager torch does not have. On this project's 2-core machine
an English search with MaxSim's rerank takes 215 ms at p50 against torch's 269, and a question
is embedded in 4 ms against 28, with vectors within cosine 0.9999 of torch's (``python -m
benchmarks embedders``; docs/chinese.md). On a GPU kbqa keeps torch.

One infer request is made per call, so that searches on several threads never share one.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
# Kernels OpenVINO keeps per input shape (its default is 5,000). kbqa pads texts to a multiple
# of 32 tokens, so batches of up to 16 texts of up to 512 tokens have at most 256 shapes: the
# cache holds them all, and a day of questions cannot grow it past them.
SHAPES_KEPT = 256
PRECISIONS = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}
_INPUTS = ("input_ids", "attention_mask")


def available() -> bool:
    """Whether OpenVINO's runtime can be imported here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoEncoder:
    """A Hugging Face encoder's last hidden states, computed by OpenVINO on the CPU.

    Args:
        model: the torch module (``BertModel``, ``XLMRobertaModel``); copied, not changed,
            unless ``owned``.
        precision: 'auto' (OpenVINO's choice: bfloat16 where the CPU computes in it natively),
            or 'bfloat16', 'float16', 'float32'.
        threads: CPU threads for one inference; None: OpenVINO's choice.
        owned: the model is the caller's to give away (made for this): it is converted in
            place, not copied first.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        precision: str = "auto",
        threads: int | None = None,
        owned: bool = False,
    ) -> None:
        import openvino as ov
        import torch

        class _LastHidden(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

        # Converted from float32, which OpenVINO copies: from bfloat16 weights it compiled a
        # model whose vectors were off (cosine 0.83-0.95 to torch's). It then runs in the
        # precision it is told, or picks (bfloat16 on AMX).
        source = (model if owned else copy.deepcopy(model)).float().eval()
        example = {name: torch.ones(2, 32, dtype=torch.long) for name in _INPUTS}
        inputs = [(name, [-1, -1], ov.Type.i64) for name in _INPUTS]
        with torch.inference_mode(), _quiet():
            graph = ov.convert_model(_LastHidden(source), example_input=example, input=inputs)
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "CPU_RUNTIME_CACHE_CAPACITY": SHAPES_KEPT,
        }
        if precision in PRECISIONS:
            config["INFERENCE_PRECISION_HINT"] = PRECISIONS[precision]
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(graph, "CPU", config)
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Hidden states of the last layer, (batch, tokens, width), float32."""
        request = self.compiled.create_infer_request()
        feed = {
            "input_ids": input_ids.astype(np.int64, copy=False),
            "attention_mask": attention_mask.astype(np.int64, copy=False),
        }
        return np.asarray(request.infer(feed)[0], dtype=np.float32)


def compile_or_none(
    model: torch.nn.Module, precision: str, threads: int | None, what: str, owned: bool = False
) -> OpenVinoEncoder | None:
    """The model compiled by OpenVINO, or None where that fails (torch then runs it): a new
    architecture that OpenVINO cannot convert must not stop kbqa from embedding."""
    try:
        return OpenVinoEncoder(model, precision, threads, owned)
    except Exception as error:  # noqa: BLE001 - any conversion failure falls back to torch
        log.warning("OpenVINO could not compile %s; torch runs it: %s", what, error)
        return None


@contextmanager
def _quiet() -> Iterator[None]:
    """Tracing a model for conversion, without its noise and its side effects on logging:
    torch's tracer warns about every Python branch on a tensor's shape, transformers about
    config fields that only training reads, and openvino 2026.4 leaves the root logger at
    ERROR after a failed conversion (which hid every warning kbqa logged after it)."""
    from transformers.utils import logging as transformers_logging

    root = logging.getLogger()
    level, verbosity = root.level, transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
        transformers_logging.set_verbosity(verbosity)
