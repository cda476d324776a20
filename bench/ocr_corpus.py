"""The real-world PDFs that were refused as scans (``needs_ocr``): what OCR makes of them.

Reads every PDF under the given folders (tests/e2e/test_corpora.py fetches pypdf's and
OCRmyPDF's test files into build/corpora) in the isolated parser, with the limits that test
uses, first with OCR off, then the ``needs_ocr`` ones again with the default OCR engines.

    python bench/ocr_corpus.py build/corpora/pypdf build/corpora/ocrmypdf
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import IngestError  # noqa: E402
from core.settings import IngestSettings  # noqa: E402
from ingest.isolation import IsolatedParser  # noqa: E402
from ingest.loaders import OcrOptions  # noqa: E402
from ingest.ocr import pick_engine  # noqa: E402


def parser(settings: IngestSettings, ocr: bool) -> IsolatedParser:
    options = OcrOptions(
        engine=pick_engine(settings.ocr_engines, settings.ocr_languages) if ocr else None,
        languages=tuple(settings.ocr_languages),
        dpi=settings.ocr_dpi,
        max_pages=settings.ocr_max_pages,
        cjk_engine=pick_engine([settings.ocr_cjk_engine], settings.ocr_languages)
        if ocr and settings.ocr_cjk_engine
        else None,
    )
    return IsolatedParser(
        settings.parse_timeout_s,
        settings.parse_memory_mb,
        max_pages=settings.max_pages,
        workers=settings.parse_workers,
        ocr=options,
        ocr_page_timeout_s=settings.ocr_page_timeout_s,
    )


def outcome(reader: IsolatedParser, path: Path) -> dict[str, object]:
    start = time.perf_counter()
    try:
        pages = reader.pages(path.read_bytes(), path.name)
        result: dict[str, object] = {
            "outcome": "indexed",
            "pages": len(pages),
            "chars": sum(len(p.text) for p in pages),
        }
    except IngestError as exc:
        result = {"outcome": exc.reason, "detail": exc.detail}
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("folders", nargs="+", type=Path)
    args.add_argument("--json", type=Path, default=Path("build/bench/ocr-corpus.json"))
    folders = args.parse_args().folders
    settings = IngestSettings(parse_timeout_s=300, parse_memory_mb=1024)
    paths = sorted(p for folder in folders for p in folder.rglob("*.pdf"))
    plain = parser(settings, ocr=False)
    scans = []
    for path in paths:
        if outcome(plain, path)["outcome"] == "needs_ocr":
            scans.append(path)
    plain.close()
    print(f"{len(scans)} of {len(paths)} PDFs refused as needs_ocr without OCR", flush=True)
    reader = parser(settings, ocr=True)
    report = {}
    for path in scans:
        report[str(path)] = outcome(reader, path)
        print(path.name, json.dumps(report[str(path)], ensure_ascii=False), flush=True)
    reader.close()
    counts = collections.Counter(str(r["outcome"]) for r in report.values())
    print("with OCR:", dict(counts))
    args_json = args.parse_args().json
    args_json.parent.mkdir(parents=True, exist_ok=True)
    args_json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
