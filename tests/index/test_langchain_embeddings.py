"""kbqa's embedder behind LangChain's ``Embeddings``, as a user plugs it into a chain."""

from __future__ import annotations

import numpy as np
from langchain_core.vectorstores import InMemoryVectorStore

from index.embedders import FakeEmbedder, LangChainEmbeddings


def test_it_returns_the_embedders_vectors_as_lists_of_floats() -> None:
    embedder = FakeEmbedder()
    embeddings = LangChainEmbeddings(embedder)
    texts = ["The harbour was built in 1850.", "Ada Brook kept the lighthouse."]
    documents = embeddings.embed_documents(texts)
    assert [len(v) for v in documents] == [embedder.dim, embedder.dim]
    assert all(isinstance(x, float) for v in documents for x in v)
    np.testing.assert_allclose(documents, embedder.embed(texts))
    np.testing.assert_allclose(embeddings.embed_query(texts[1]), embedder.embed_query(texts[1]))


def test_a_langchain_vector_store_finds_by_it() -> None:
    store = InMemoryVectorStore(LangChainEmbeddings(FakeEmbedder()))
    store.add_texts(
        ["The harbour was built in 1850.", "Ada Brook kept the lighthouse.", "Gulls nest here."]
    )
    (best,) = store.similarity_search("who kept the lighthouse", k=1)
    assert best.page_content == "Ada Brook kept the lighthouse."
