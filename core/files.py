"""The files kbqa reads, and writing files so that a crash leaves them whole or absent."""

from __future__ import annotations

import os
from pathlib import Path

# The kinds of document kbqa ingests -> their file name suffixes. ingest's loaders, the
# command's folder walk and the web UI's file picker all read this one table.
DOCUMENT_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": (".pdf",),
    "text": (".txt", ".text"),
    "markdown": (".md", ".markdown"),
    "docx": (".docx",),
    "pptx": (".pptx",),
    "html": (".html", ".htm", ".xhtml"),
}
# The same, in words, for help texts and error hints.
DOCUMENT_TYPES_TEXT = "PDF (scans too), Word (.docx), PowerPoint (.pptx), web pages, text, Markdown"
# What each kind is served as, when its original is downloaded.
CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "html": "text/html; charset=utf-8",
}
# A page shown as an image (GET /documents/{id}/pages/{n}): its width in pixels.
PAGE_WIDTH_MIN, PAGE_WIDTH_MAX, PAGE_WIDTH_DEFAULT = 100, 2400, 1000
DOCUMENT_SUFFIXES = tuple(suffix for suffixes in DOCUMENT_TYPES.values() for suffix in suffixes)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``<path>.tmp``, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
