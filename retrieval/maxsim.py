"""MaxSim on the embedder's device: one batched product for all passages of a query, so that on
a GPU the token vectors never leave it (the CPU path scores passage by passage in numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def maxsim_scores(query: torch.Tensor, passages: Sequence[torch.Tensor]) -> list[float]:
    """For each passage, the mean over query tokens of the best passage-token similarity
    (0 for an empty passage or query). Rows are unit token vectors, on one device."""
    lengths = torch.tensor([len(p) for p in passages], device=query.device)
    if not len(query) or not len(passages) or int(lengths.max()) == 0:
        return [0.0] * len(passages)
    padded = torch.nn.utils.rnn.pad_sequence(list(passages), batch_first=True)  # (n, L, d)
    sims = torch.einsum("qd,nld->nql", query, padded)
    padding = torch.arange(padded.shape[1], device=query.device)[None, :] >= lengths[:, None]
    sims = sims.masked_fill(padding[:, None, :], float("-inf"))
    scores = sims.max(dim=2).values.mean(dim=1)
    scores = torch.where(lengths > 0, scores, torch.zeros_like(scores))
    return [float(s) for s in scores.cpu()]
