"""A stand-in for FAISS's GPU functions, for machines without a GPU (CI).

It behaves like the real API where kbqa relies on it: ``index_cpu_to_gpu`` copies the index
(refusing types FAISS has no GPU form for, as FAISS does), the copy searches at most 2,048
neighbours, takes ``add_with_ids`` and refuses ``remove_ids``; ``index_gpu_to_cpu`` copies back.
The copy is a CPU index underneath, so its answers are FAISS's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np
import pytest


class FakeGpuResources:
    def __init__(self) -> None:
        self.temp_memory: int | None = None

    def setTempMemory(self, size: int) -> None:  # noqa: N802 (FAISS's name)
        self.temp_memory = size


class FakeClonerOptions:
    def __init__(self) -> None:
        self.useFloat16 = False


class FakeGpuIndex:
    """A "GPU" index: searches, adds, never removes."""

    def __init__(self, cpu: faiss.Index, device: int, float16: bool) -> None:
        self.cpu, self.device, self.float16 = cpu, device, float16
        self.searches = 0

    @property
    def ntotal(self) -> int:
        return int(self.cpu.ntotal)

    def search(
        self, x: np.ndarray, k: int, params: faiss.SearchParameters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < k <= 2048:
            raise RuntimeError(f"GPU index only supports k <= 2048 (got {k})")
        self.searches += 1
        return self.cpu.search(x, k, params=params)

    def add_with_ids(self, x: np.ndarray, ids: np.ndarray) -> None:
        self.cpu.add_with_ids(x, ids)

    def remove_ids(self, ids: object) -> int:
        raise RuntimeError("remove_ids not implemented for this type of index")


@dataclass
class FakeGpu:
    """What the stand-in was asked: every GPU copy it made."""

    gpus: int = 1
    copies: list[FakeGpuIndex] = field(default_factory=list)

    def index_cpu_to_gpu(
        self, res: object, device: int, index: faiss.Index, options: object = None
    ) -> FakeGpuIndex:
        if not isinstance(res, FakeGpuResources) or not 0 <= device < self.gpus:
            raise RuntimeError(f"invalid GPU resources or device {device}")
        inner = faiss.downcast_index(index)
        if isinstance(inner, faiss.IndexIDMap):  # IndexIDMap2 is one too
            inner = faiss.downcast_index(inner.index)
        if not isinstance(inner, faiss.IndexFlat | faiss.IndexIVF):
            raise RuntimeError("This index type is not implemented on GPU.")
        float16 = bool(getattr(options, "useFloat16", False))
        copy = FakeGpuIndex(faiss.clone_index(index), device, float16)
        self.copies.append(copy)
        return copy

    @staticmethod
    def index_gpu_to_cpu(index: FakeGpuIndex) -> faiss.Index:
        return faiss.clone_index(index.cpu)


def install_fake_gpu(monkeypatch: pytest.MonkeyPatch, gpus: int = 1) -> FakeGpu:
    """Make ``faiss`` look like a GPU build that sees ``gpus`` GPUs."""
    fake = FakeGpu(gpus)
    monkeypatch.setattr(faiss, "StandardGpuResources", FakeGpuResources, raising=False)
    monkeypatch.setattr(faiss, "GpuClonerOptions", FakeClonerOptions, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: gpus)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", fake.index_cpu_to_gpu, raising=False)
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", fake.index_gpu_to_cpu, raising=False)
    return fake
