"""Retrieval: which chunks answer a question (dense + BM25, fused, reranked)."""
