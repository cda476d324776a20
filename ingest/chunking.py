"""Sentence-aware chunking that keeps every chunk's page and character offsets."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.text import weighted_length
from core.types import Chunk, ParsedDocument
from ingest.headings import document_headings
from ingest.office import FIRST_SECTION

# Coarse to fine: paragraphs, lines, sentences (CJK and Latin), clauses, words, characters.
SEPARATORS = [
    "\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ",
    "，", "、", ", ", " ", "",
]  # fmt: skip


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
            length_function=weighted_length,  # so CJK chunks come out shorter
            strip_whitespace=True,
        )

    def split(self, document: ParsedDocument) -> list[Chunk]:
        """Chunks of each page in turn. A chunk never crosses a page break, so the page a
        citation names is exactly where its text is printed, nor a heading (a PDF's, found by
        :func:`ingest.headings.document_headings`): a new section starts a new chunk, and each
        chunk keeps the heading it is under, or its Word or web page section's."""
        chunks: list[Chunk] = []
        heading: str | None = None  # a PDF's heading holds until the next, across pages
        starts, headings_of = document.page_starts(), document_headings(document.pages)
        for page, page_offset, headings in zip(document.pages, starts, headings_of, strict=True):
            # (where a section starts, its heading; None: the page begins mid-section)
            cuts = [(0, None), *headings] if not headings or headings[0][0] else headings
            ends = [start for start, _ in cuts[1:]] + [len(page.text)]
            for (start, title), end in zip(cuts, ends, strict=True):
                heading = title or heading
                under = heading or (page.section if page.section != FIRST_SECTION else None)
                for offset, piece in self._pieces(page.text, start, end):
                    chunks.append(
                        Chunk(
                            document_id=document.id,
                            ordinal=len(chunks),
                            text=piece,
                            page_start=page.number,
                            page_end=page.number,
                            char_start=page_offset + offset,
                            char_end=page_offset + offset + len(piece),
                            section=page.section,
                            heading=under,
                        )
                    )
        return chunks

    def _pieces(self, text: str, start: int, end: int) -> list[tuple[int, str]]:
        """(offset in ``text``, piece) of the chunks that ``text[start:end]`` splits into."""
        out: list[tuple[int, str]] = []
        search_from = start
        for piece in self._splitter.split_text(text[start:end]):
            offset = text.find(piece, search_from, end)
            if offset < 0:  # the splitter only strips, so this cannot happen; fail loudly
                raise AssertionError(f"chunk {piece[:40]!r} not found in its page's text")
            out.append((offset, piece))
            # The next chunk starts after this one's start, within the overlap of its end.
            search_from = max(offset + 1, offset + len(piece) - 2 * self.chunk_overlap)
        return out
