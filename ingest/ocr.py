"""OCR for PDF pages without a usable text layer: render with pdfium, read with an engine.

Two engines run offline, picked by name from settings in order of preference, and a second
engine may read again the pages the first finds to be mostly Chinese (or Japanese, Korean):

- ``rapidocr``: RapidOCR (PaddleOCR's PP-OCRv4 models, shipped inside the
  ``rapidocr-onnxruntime`` wheel, on ONNX Runtime). Its models read Chinese and English.
- ``tesseract``: Tesseract 5 (Debian ``tesseract-ocr`` and a package per language) through
  pytesseract.

benchmarks/ocr_eval.py measures both on the dev sets; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pypdfium2
from PIL import Image

from core.registry import Registry
from core.text import cjk_ratio, is_cjk
from core.types import TextLine

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install an OCR engine: `pip install rapidocr-onnxruntime` (English and Chinese), or "
    "`apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim`; "
    "KBQA_INGEST__OCR_ENGINES picks among them"
)


class OcrEngine(ABC):
    """Reads the text of one page image. Subclasses implement :meth:`read`."""

    name: ClassVar[str]
    # Whether the isolated parser runs it in a process of its own, with its own memory limit
    # (settings: ocr_memory_mb), rather than in its workers.
    own_process: ClassVar[bool] = False

    @abstractmethod
    def __init__(self, languages: Sequence[str], threads: int = 1) -> None:
        """Load the engine for ``languages``, to read with ``threads`` threads (once per
        process: see :func:`load_engine`)."""

    @classmethod
    @abstractmethod
    def unavailable(cls, languages: Sequence[str]) -> str | None:
        """Why the engine cannot read ``languages`` here, or None when it can."""

    # Seconds of the engine's own steps in the last read, where it reports them (benchmarks).
    last_steps: dict[str, float] = {}  # replaced by each read, never mutated

    def read(self, image: Image.Image) -> str:
        """The text of a greyscale page image, lines in reading order, paragraphs apart."""
        return self.read_lines(image)[0]

    @abstractmethod
    def read_lines(self, image: Image.Image) -> tuple[str, list[TextLine]]:
        """:meth:`read`'s text, and each line it holds with its box (fractions of the image,
        origin top-left): where a passage is printed on a scanned page."""


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"
    # ONNX Runtime's models and a page's feature maps: more than the parser's limit for
    # hostile files is meant for (docs/benchmarks.md: python -m benchmarks ocr-memory).
    own_process = True
    # The PP-OCRv4 Chinese models in the wheel read simplified Chinese and English.
    LANGUAGES = frozenset({"eng", "chi_sim"})

    def __init__(self, languages: Sequence[str], threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    @classmethod
    def unavailable(cls, languages: Sequence[str]) -> str | None:
        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            return "rapidocr-onnxruntime is not installed"
        missing = set(languages) - cls.LANGUAGES
        return f"its models do not read {', '.join(sorted(missing))}" if missing else None

    # Text detection's memory grows with the image (its feature maps are a multiple of the
    # pixels): pages are read at most this many pixels a side, in their own process and
    # memory limit (ingest/isolation.py; benchmarks/ocr_memory.py measures what a page takes).
    MAX_SIDE = 1600

    def read_lines(self, image: Image.Image) -> tuple[str, list[TextLine]]:
        if max(image.size) > self.MAX_SIDE:
            image = image.copy()
            image.thumbnail((self.MAX_SIDE, self.MAX_SIDE))
        result, elapse = self._ocr(np.asarray(image.convert("RGB")))
        steps = zip(("detect", "classify", "recognise"), elapse or [], strict=False)
        self.last_steps = {name: float(seconds) for name, seconds in steps}
        boxes = [(np.asarray(box, dtype=float), text) for box, text, _score in result or []]
        return layout_lines(boxes), line_boxes(boxes, image.size)


class TesseractEngine(OcrEngine):
    name = "tesseract"

    def __init__(self, languages: Sequence[str], threads: int = 1) -> None:
        self._lang = "+".join(languages)
        # One thread per page: the parse workers are the parallelism (OpenMP would make each
        # tesseract claim every core). This process's environment is inherited by tesseract.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    @classmethod
    def unavailable(cls, languages: Sequence[str]) -> str | None:
        if importlib.util.find_spec("pytesseract") is None:
            return "pytesseract is not installed"
        if shutil.which("tesseract") is None:
            return "the tesseract program is not installed"
        missing = set(languages) - _tesseract_languages()
        if missing:
            return f"tesseract has no data for {', '.join(sorted(missing))}"
        return None

    def read_lines(self, image: Image.Image) -> tuple[str, list[TextLine]]:
        import pytesseract

        data = pytesseract.image_to_data(
            image, lang=self._lang, output_type=pytesseract.Output.DICT
        )
        return tesseract_lines(data, image.size)


def tesseract_lines(
    data: dict[str, list[Any]], size: tuple[int, int]
) -> tuple[str, list[TextLine]]:
    """Tesseract's words (``image_to_data``) as text, lines of its paragraphs apart as
    ``image_to_string`` writes them, and as lines with their boxes."""
    lines: dict[tuple[int, int, int], list[tuple[str, tuple[int, int, int, int]]]] = {}
    for i, word in enumerate(data["text"]):
        if data["level"][i] == 5 and str(word).strip():
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            left, top = data["left"][i], data["top"][i]
            box = (left, top, left + data["width"][i], top + data["height"][i])
            lines.setdefault(key, []).append((str(word).strip(), box))
    out: list[str] = []
    found: list[TextLine] = []
    paragraph = None
    for (block, par, _), words in lines.items():
        if paragraph is not None and paragraph != (block, par):
            out.append("")  # a blank line: clean_text keeps paragraphs apart
        paragraph = (block, par)
        text = _join_words(word for word, _ in words)
        out.append(text)
        found.append(_text_line(text, [box for _, box in words], size))
    return "\n".join(out), found


def _text_line(
    text: str, boxes: list[tuple[float, float, float, float]], size: tuple[int, int]
) -> TextLine:
    """A line of text whose words have ``boxes`` (pixels: left, top, right, bottom)."""
    width, height = size
    return TextLine(
        text=text,
        box=(
            round(min(b[0] for b in boxes) / width, 5),
            round(min(b[1] for b in boxes) / height, 5),
            round(max(b[2] for b in boxes) / width, 5),
            round(max(b[3] for b in boxes) / height, 5),
        ),
    )


@functools.cache
def _tesseract_languages() -> frozenset[str]:
    try:
        out = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


ENGINES: Registry[type[OcrEngine]] = Registry("OCR engine")
for _cls in (RapidOcrEngine, TesseractEngine):
    ENGINES.add(_cls.name, _cls)


def pick_engine(names: Sequence[str], languages: Sequence[str]) -> str | None:
    """The first engine of ``names`` that can read ``languages`` here; None if none can."""
    for name in names:
        if ENGINES[name].unavailable(tuple(languages)) is None:
            return name
    return None


@functools.cache
def load_engine(name: str, languages: tuple[str, ...], threads: int = 1) -> OcrEngine:
    """The engine ``name``, loaded once per process: a worker reads every page with it."""
    return ENGINES[name](languages, threads)


def has_images(page: pypdfium2.PdfPage) -> bool:
    """Whether a page draws any image, in form XObjects too (where scanners often put them)."""
    image = pypdfium2.raw.FPDF_PAGEOBJ_IMAGE
    return any(True for _ in page.get_objects(filter=(image,), max_depth=4))


# A page whose OCR text is at least this share CJK is a CJK page.
CJK_PAGE_RATIO = 0.3


# Pages are rendered at the OCR resolution but at most this many pixels (A4 at 200 dpi is 3.9
# million): a poster or a drawing metres wide is hundreds of millions at 200 dpi, which no
# engine reads in a page's time limit, and its text is large enough to read at less.
MAX_PIXELS = 16_000_000


def render(page: pypdfium2.PdfPage, dpi: int) -> Image.Image:
    """A page as OCR reads it: greyscale, at ``dpi`` or at :data:`MAX_PIXELS`, whichever is
    less."""
    width, height = page.get_size()  # in points, 1/72 inch
    scale = min(dpi / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
    return page.render(scale=scale, grayscale=True).to_pil().convert("L")


def wants_cjk_engine(text: str, engine: str, cjk_engine: str | None) -> bool:
    """Whether ``cjk_engine`` should read again a page ``engine`` read as ``text``."""
    return bool(cjk_engine) and cjk_engine != engine and cjk_ratio(text) >= CJK_PAGE_RATIO


def ocr_page(
    page: pypdfium2.PdfPage,
    engine: str,
    languages: Sequence[str],
    dpi: int,
    cjk_engine: str | None = None,
) -> tuple[str, list[TextLine]]:
    """The text OCR reads on one page, in this process, with its lines' boxes; a page
    ``engine`` reads as mostly CJK is read again by ``cjk_engine``, when given. (The isolated
    parser runs the second engine in a process of its own: ingest/isolation.py.)"""
    image = render(page, dpi)
    text, lines = load_engine(engine, tuple(languages)).read_lines(image)
    if cjk_engine and wants_cjk_engine(text, engine, cjk_engine):
        try:
            return load_engine(cjk_engine, tuple(languages)).read_lines(image)
        except Exception as exc:  # e.g. ONNX Runtime out of memory: keep the first reading
            log.warning("%s failed on a page (%s); keeping %s's text", cjk_engine, exc, engine)
    return text, lines


def layout_lines(boxes: list[tuple[np.ndarray, str]]) -> str:
    """Text boxes (four corner points each) -> lines in reading order.

    Boxes whose vertical centres lie within half a line height of each other form one line,
    read left to right; a gap of more than a line height between lines starts a paragraph.
    """
    lines = _group_lines(boxes)
    out: list[str] = []
    for i, (y, h, parts) in enumerate(lines):
        if i and y - lines[i - 1][0] > 2.2 * max(h, lines[i - 1][1]):
            out.append("")  # a blank line: clean_text keeps paragraphs apart
        out.append(_join_words(text for _, text, _ in sorted(parts)))
    return "\n".join(out)


def line_boxes(boxes: list[tuple[np.ndarray, str]], size: tuple[int, int]) -> list[TextLine]:
    """The lines of :func:`layout_lines` with their boxes, as fractions of an image ``size``."""
    return [
        _text_line(_join_words(text for _, text, _ in sorted(parts)), [b for *_, b in parts], size)
        for _, _, parts in _group_lines(boxes)
    ]


def _group_lines(boxes: list[tuple[np.ndarray, str]]) -> list[list[Any]]:
    """Text boxes as lines top down: [centre y, height, [(left x, text, box), ...]]."""
    items: list[tuple[float, float, float, str, tuple[float, float, float, float]]] = []
    for box, text in boxes:
        ys, xs = box[:, 1], box[:, 0]
        rect = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        items.append(((ys.min() + ys.max()) / 2, ys.max() - ys.min(), xs.min(), text, rect))
    items.sort()
    lines: list[list[Any]] = []
    for y, h, x, text, corners in items:
        if lines and abs(y - lines[-1][0]) < max(h, lines[-1][1]) / 2:
            lines[-1][2].append((x, text, corners))
        else:
            lines.append([y, h, [(x, text, corners)]])
    return lines


def _join_words(words: Any) -> str:
    line = ""
    for word in words:
        if line and not (is_cjk(line[-1]) or is_cjk(word[0])):
            line += " "
        line += word
    return line
