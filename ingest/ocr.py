"""OCR for PDF pages without a usable text layer: render with pdfium, read with an engine.

Two engines run offline, picked by name from settings in order of preference; where a second
one is set for Chinese (Japanese, Korean) pages, each page's script is decided first and the
page read once, by the engine for it (:func:`read_scan`):

- ``rapidocr``: PaddleOCR's PP-OCRv4 models, shipped inside the ``rapidocr-onnxruntime``
  wheel, on OpenVINO or ONNX Runtime (ingest/rapidocr.py). They read Chinese and English.
- ``tesseract``: Tesseract 5 (Debian ``tesseract-ocr`` and a package per language) through
  pytesseract.

benchmarks/ocr_eval.py measures both on the dev sets; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pypdfium2
from PIL import Image

from core.registry import Registry
from core.text import cjk_ratio, is_cjk
from core.types import TextLine

if TYPE_CHECKING:
    from ingest.rapidocr import PageLines

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install an OCR engine: `pip install rapidocr-onnxruntime` (English and Chinese), or "
    "`apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim`; "
    "KBQA_INGEST__OCR_ENGINES picks among them"
)

# Tesseract's names of the languages written in CJK scripts: the CJK engine reads their pages.
CJK_LANGUAGES = frozenset(
    {"chi_sim", "chi_tra", "jpn", "kor", "chi_sim_vert", "chi_tra_vert", "jpn_vert", "kor_vert"}
)
# A page whose OCR text is at least this share CJK is a CJK page.
CJK_PAGE_RATIO = 0.3


@dataclass(frozen=True)
class OcrOptions:
    """How scanned pages are read; ``engine`` None: no OCR engine is available."""

    engine: str | None
    languages: tuple[str, ...] = ("eng", "chi_sim")
    # Reads the pages whose script it finds to be CJK (the others: ``engine``); None: none.
    cjk_engine: str | None = None
    dpi: int = 200
    max_pages: int = 500
    # Threads of each engine, and processes that read a document's pages at once: one
    # thread each, pages side by side, was faster on two shared cores (docs/benchmarks.md).
    threads: int = 1
    workers: int = 2
    # RapidOCR: the longest side of the image it finds text lines in; its runtime.
    det_side: int = 960
    runtime: str = "auto"

    def without_cjk(self) -> OcrOptions:
        """These options for pages the CJK engine found not to be CJK: the languages but the
        CJK ones (Tesseract reads English half again as fast without chi_sim)."""
        rest = tuple(lang for lang in self.languages if lang not in CJK_LANGUAGES)
        return dataclasses.replace(self, languages=rest or self.languages)


class OcrEngine(ABC):
    """Reads the text of one page image. Subclasses implement :meth:`read_lines`."""

    name: ClassVar[str]
    # Whether the isolated parser runs it in processes of their own, with their own memory
    # limit (settings: ocr_memory_mb), rather than in its workers.
    own_process: ClassVar[bool] = False

    @abstractmethod
    def __init__(self, options: OcrOptions) -> None:
        """Load the engine for ``options.languages`` (once per process: see
        :func:`load_engine`)."""

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

    def read_if_cjk(self, image: Image.Image) -> tuple[str, list[TextLine]] | None:
        """:meth:`read_lines` of a page that is mostly CJK; None for any other page. Engines
        that can tell from part of a page override it to read no more than that part."""
        text, lines = self.read_lines(image)
        return (text, lines) if cjk_ratio(text) >= CJK_PAGE_RATIO else None


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"
    # Its runtime's models and a page's feature maps: more than the parser's limit for
    # hostile files is meant for (docs/benchmarks.md: python -m benchmarks ocr-memory).
    own_process = True
    # The PP-OCRv4 Chinese models in the wheel read simplified Chinese and English.
    LANGUAGES = frozenset({"eng", "chi_sim"})
    # Lines read to tell a page's script, spread over the page (a page's lines in all: ~40).
    SAMPLE_LINES = 6

    def __init__(self, options: OcrOptions) -> None:
        from ingest.rapidocr import RapidOcr

        self._ocr = RapidOcr(options.runtime, options.threads, options.det_side)

    @classmethod
    def unavailable(cls, languages: Sequence[str]) -> str | None:
        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            return "rapidocr-onnxruntime is not installed"
        missing = set(languages) - cls.LANGUAGES
        return f"its models do not read {', '.join(sorted(missing))}" if missing else None

    def read_lines(self, image: Image.Image) -> tuple[str, list[TextLine]]:
        self._ocr.steps = {}
        page = self._ocr.detect(image)
        return self._finish(page)

    def read_if_cjk(self, image: Image.Image) -> tuple[str, list[TextLine]] | None:
        self._ocr.steps = {}
        page = self._ocr.detect(image)
        self._ocr.recognise(page, spread(len(page.boxes), self.SAMPLE_LINES))
        if cjk_ratio("".join(text for _, text in page.texts())) < CJK_PAGE_RATIO:
            self.last_steps = dict(self._ocr.steps)
            return None
        return self._finish(page)  # the sample's lines are not read again

    def _finish(self, page: PageLines) -> tuple[str, list[TextLine]]:
        self._ocr.recognise(page, range(len(page.boxes)))
        self.last_steps = dict(self._ocr.steps)
        boxes = [(box, cjk_punctuation(text)) for box, text in page.texts()]
        height, width = page.image.shape[:2]
        return layout_lines(boxes), line_boxes(boxes, (width, height))


def spread(count: int, most: int) -> list[int]:
    """At most ``most`` of ``count`` indices, evenly spread from the first to the last."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


class TesseractEngine(OcrEngine):
    name = "tesseract"

    def __init__(self, options: OcrOptions) -> None:
        self._lang = "+".join(options.languages)
        # options.threads per page (one): the workers are the parallelism (OpenMP would make
        # each tesseract claim every core). This process's environment is inherited by it.
        os.environ.setdefault("OMP_THREAD_LIMIT", str(options.threads))

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
def load_engine(name: str, options: OcrOptions) -> OcrEngine:
    """The engine ``name`` with ``options``, loaded once per process: a worker reads every
    page with it."""
    return ENGINES[name](options)


def has_images(page: pypdfium2.PdfPage) -> bool:
    """Whether a page draws any image, in form XObjects too (where scanners often put them)."""
    image = pypdfium2.raw.FPDF_PAGEOBJ_IMAGE
    return any(True for _ in page.get_objects(filter=(image,), max_depth=4))


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


def read_scan(image: Image.Image, options: OcrOptions) -> tuple[str, list[TextLine]]:
    """The text of a scanned page image, with its lines' boxes, read once: by the CJK engine
    where it finds the page to be CJK (RapidOCR tells from a few lines), else by the first
    engine, in the languages but the CJK ones."""
    assert options.engine is not None, "pages are OCR'd only with an engine"
    cjk = options.cjk_engine
    if not cjk or cjk == options.engine:
        return load_engine(options.engine, options).read_lines(image)
    try:
        read = load_engine(cjk, options).read_if_cjk(image)
    except Exception as exc:  # e.g. ONNX Runtime out of memory: the first engine reads it all
        log.warning("%s failed on a page (%s); %s reads it", cjk, exc, options.engine)
        return load_engine(options.engine, options).read_lines(image)
    if read is not None:
        return read
    return load_engine(options.engine, options.without_cjk()).read_lines(image)


def ocr_page(page: pypdfium2.PdfPage, options: OcrOptions) -> tuple[str, list[TextLine]]:
    """The text OCR reads on one page, in this process, with its lines' boxes."""
    return read_scan(render(page, options.dpi), options)


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


# The recogniser reads a Chinese page's full-width punctuation as ASCII: "散寒草（四川一带)".
_FULL_WIDTH = str.maketrans(",:;?!()", "，：；？！（）")


def cjk_punctuation(line: str) -> str:
    """``line`` with the ASCII commas, colons, semicolons, question and exclamation marks and
    brackets that touch a CJK character made full-width, as the printed page had them; the
    rest as read ("s.k.", "4-6", "(1990)"). Each character stays one character."""
    chars = list(line)
    for i, c in enumerate(chars):
        if c in ",:;?!()" and (
            (i and is_cjk(line[i - 1])) or (i + 1 < len(line) and is_cjk(line[i + 1]))
        ):
            chars[i] = c.translate(_FULL_WIDTH)
    return "".join(chars)


def _join_words(words: Any) -> str:
    line = ""
    for word in words:
        if line and not (is_cjk(line[-1]) or is_cjk(word[0])):
            line += " "
        line += word
    return line
