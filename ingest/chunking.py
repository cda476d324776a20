"""Sentence-aware chunking that keeps every chunk's page and character offsets."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.text import CJK_RE
from core.types import Chunk, ParsedDocument

# Coarse to fine: paragraphs, lines, sentences (CJK and Latin), clauses, words, characters.
SEPARATORS = [
    "\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ",
    "，", "、", ", ", " ", "",
]  # fmt: skip


def weighted_length(text: str) -> int:
    """Length with CJK characters counted twice: one CJK character carries about as much as
    two Latin ones and costs a whole token in the embedder, so CJK chunks come out shorter."""
    return len(text) + len(CJK_RE.findall(text))


class Chunker:
    """Splits a parsed document into overlapping chunks on sentence boundaries."""

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError(
                f"chunk_overlap must be in [0, chunk_size), got {chunk_overlap} for {chunk_size}"
            )
        self.chunk_overlap = chunk_overlap
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=SEPARATORS,
            keep_separator="end",
            length_function=weighted_length,
            strip_whitespace=True,
        )

    def split(self, document: ParsedDocument) -> list[Chunk]:
        """Chunks of each page in turn. A chunk never crosses a page break, so the page a
        citation names is exactly where its text is printed."""
        chunks: list[Chunk] = []
        for page, page_offset in zip(document.pages, document.page_starts(), strict=True):
            search_from = 0
            for piece in self._splitter.split_text(page.text):
                start = page.text.find(piece, search_from)
                if start < 0:  # the splitter only strips, so this cannot happen; fail loudly
                    raise AssertionError(f"chunk not found on page {page.number} of {document.id}")
                chunks.append(
                    Chunk(
                        document_id=document.id,
                        ordinal=len(chunks),
                        text=piece,
                        page_start=page.number,
                        page_end=page.number,
                        char_start=page_offset + start,
                        char_end=page_offset + start + len(piece),
                        section=page.section,
                    )
                )
                # The next chunk starts after this one's start, within the overlap of its end.
                search_from = max(start + 1, start + len(piece) - 2 * self.chunk_overlap)
        return chunks
