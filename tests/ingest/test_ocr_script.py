"""Each scanned page read once, by the engine for its script: RapidOCR tells the script from a
few lines and reads a Chinese page itself; Tesseract reads any other page, without chi_sim."""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Sequence

import numpy as np
import pypdfium2
import pytest
from PIL import Image

from benchmarks.scans import scan_pdf
from core.settings import IngestSettings
from ingest.ocr import (
    ENGINES,
    OcrOptions,
    RapidOcrEngine,
    TesseractEngine,
    load_engine,
    read_scan,
    render,
    spread,
)
from ingest.pipeline import ocr_options
from ingest.rapidocr import PageLines, RapidOcr
from tests.utils.pdfs import text_pdf_bytes

needs_both = pytest.mark.skipif(
    any(ENGINES[e].unavailable(("eng", "chi_sim")) for e in ("tesseract", "rapidocr")),
    reason="Tesseract (with chi_sim) and RapidOCR are both needed",
)
needs_rapidocr = pytest.mark.skipif(
    ENGINES["rapidocr"].unavailable(("eng", "chi_sim")) is not None,
    reason="rapidocr-onnxruntime is not installed",
)
ZH = (
    "长江是中国第一大河，全长约六千三百公里，发源于青藏高原，流经十一个省级行政区，"
    "最后在上海注入东海。三峡大坝位于湖北省宜昌市，是世界上最大的水利枢纽工程。"
)
# Twelve lines: twice as many as the lines RapidOCR reads to tell the script.
EN = "\n".join(
    f"Line {n}: the harbour wall was repaired in {1890 + n} by the engineers of the town."
    for n in range(1, 13)
)
BOTH = OcrOptions(engine="tesseract", cjk_engine="rapidocr", dpi=150)


def _page(text: str, font: str) -> Image.Image:
    pdf = pypdfium2.PdfDocument(scan_pdf(text_pdf_bytes([text], font=font), dpi=150))  # type: ignore[arg-type]
    try:
        return render(pdf[0], 150)
    finally:
        pdf.close()


def _similar(read: str, original: str) -> float:
    a, b = "".join(read.split()), "".join(original.split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def test_spread_picks_lines_from_the_first_to_the_last() -> None:
    assert spread(40, 6) == [0, 8, 16, 23, 31, 39]
    assert spread(3, 6) == [0, 1, 2]
    assert spread(0, 6) == []


def test_pages_that_are_not_cjk_are_read_in_the_other_languages() -> None:
    options = OcrOptions(engine="tesseract", languages=("eng", "chi_sim", "deu"))
    assert options.without_cjk().languages == ("eng", "deu")
    alone = OcrOptions(engine="tesseract", languages=("chi_sim",))
    assert alone.without_cjk().languages == ("chi_sim",)  # nothing else to read it in


@needs_both
def test_the_cjk_engine_is_picked_for_the_cjk_languages_and_only_when_one_is_asked_for() -> None:
    def cjk(languages: list[str]) -> str | None:
        return ocr_options(IngestSettings(ocr_languages=languages)).cjk_engine

    assert cjk(["eng", "chi_sim"]) == "rapidocr"
    assert cjk(["eng", "deu", "chi_sim"]) == "rapidocr"  # it reads the Chinese pages
    assert cjk(["eng"]) is None  # English alone: no script to decide, Tesseract reads it all


class _Spy:
    """Counts Tesseract's readings (with their languages) and RapidOCR's recognised lines."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tesseract: list[str] = []
        self.recognised = 0
        read, recognise = TesseractEngine.read_lines, RapidOcr.recognise

        def read_lines(engine: TesseractEngine, image: Image.Image):  # type: ignore[no-untyped-def]
            self.tesseract.append(engine._lang)
            return read(engine, image)

        def recognised(ocr: RapidOcr, page: PageLines, indices: Sequence[int]) -> None:
            self.recognised += len([i for i in indices if i not in page.read])
            recognise(ocr, page, indices)

        monkeypatch.setattr(TesseractEngine, "read_lines", read_lines)
        monkeypatch.setattr(RapidOcr, "recognise", recognised)


@needs_both
def test_a_chinese_page_is_read_by_rapidocr_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy(monkeypatch)
    text, lines = read_scan(_page(ZH, "cjk"), BOTH)
    assert spy.tesseract == []
    assert _similar(text, ZH) > 0.9
    assert lines
    assert all(0 <= x <= 1 for line in lines for x in line.box)


@needs_both
def test_an_english_page_is_read_by_tesseract_in_english_after_a_few_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _Spy(monkeypatch)
    text, _ = read_scan(_page(EN, "dejavu"), BOTH)
    assert spy.tesseract == ["eng"]  # once, without chi_sim
    assert 0 < spy.recognised <= RapidOcrEngine.SAMPLE_LINES
    assert _similar(text, EN) > 0.95


@needs_both
def test_a_page_the_cjk_engine_fails_on_is_read_by_the_first_in_every_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _Spy(monkeypatch)

    def fail(engine: RapidOcrEngine, image: Image.Image) -> None:
        raise RuntimeError("bad_alloc")

    monkeypatch.setattr(RapidOcrEngine, "read_if_cjk", fail)
    text, _ = read_scan(_page(ZH, "cjk"), BOTH)
    assert spy.tesseract == ["eng+chi_sim"]
    assert _similar(text, ZH) > 0.5  # Tesseract's Chinese: worse, but the page is not lost


@needs_rapidocr
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_each_runtime_reads_chinese_and_detects_at_most_det_side(runtime: str) -> None:
    if importlib.util.find_spec(runtime) is None:
        pytest.skip(f"{runtime} is not installed")
    options = OcrOptions(engine="rapidocr", runtime=runtime, det_side=640)
    engine = load_engine("rapidocr", options)
    assert isinstance(engine, RapidOcrEngine)
    seen: list[tuple[int, ...]] = []
    detect = engine._ocr._detect

    def spy(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape)
        return detect(batch)

    engine._ocr._detect = spy
    try:
        text = engine.read(_page(ZH, "cjk"))
    finally:
        engine._ocr._detect = detect
    assert _similar(text, ZH) > 0.9
    ((_, _, height, width),) = seen
    assert max(height, width) <= 640 + 16  # the detector rounds each side to 32
    assert set(engine.last_steps) == {"detect", "recognise"}
