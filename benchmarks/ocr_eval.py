"""Scanned against text PDFs: does OCR lose what questions need?

Renders each dev-set PDF to a 150-dpi greyscale image-only copy (benchmarks/scans.py), indexes the
text and the scanned versions (the scans once per OCR set-up), and compares answer-recall@5
and page-hit@5 of the default retrieval (hybrid + rerank) over every answerable question, the
token F1 of real answers on a sample of them, and OCR speed in the isolated parser. Then it
profiles OCR set-ups page by page in this process, one thread: where the time goes
(rendering; RapidOCR's detection and recognition) and how close the text read is to the
original's.

    python -m benchmarks ocr                                   # both dev sets, 20 answers each
    python -m benchmarks ocr --sets cmrc-zh --answers 0 --versions default,rapidocr
    python -m benchmarks ocr --answers 0 --versions default --profiles default,rapidocr-det640

Writes ``build/bench/ocr/results.json``.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import shutil
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pypdfium2
import typer

from benchmarks.scans import scan_folder

if TYPE_CHECKING:  # the service loads torch: `python -m benchmarks --help` need not wait for it
    from evaluation.dataset import EvalQuestion
    from ingest.ocr import OcrOptions
    from ingest.pipeline import Progress
    from kbqa.app import KBQA

ROOT = Path(__file__).resolve().parents[1]
DET_SIDES = (640, 1280, 1600)  # beside the default, 960
VERSIONS: dict[str, dict[str, object]] = {  # OCR set-up of the scans -> ingest settings
    "default": {},
    "tesseract": {"ocr_engines": ["tesseract"], "ocr_cjk_engine": None},
    "rapidocr": {"ocr_engines": ["rapidocr"], "ocr_cjk_engine": None},
    "onnxruntime": {"ocr_runtime": "onnxruntime"},
    "1-process": {"ocr_workers": 1},
    "1-process-2-threads": {"ocr_workers": 1, "ocr_threads": 2},
    **{f"det-{side}": {"ocr_det_side": side} for side in DET_SIDES},
}
# OCR set-ups profiled page by page -> ingest.ocr.OcrOptions; "default" is read_scan's choice
# of engine per page, as the parser makes it.
PROFILES: dict[str, dict[str, object]] = {
    "default": {"engine": "tesseract", "cjk_engine": "rapidocr"},
    "tesseract": {"engine": "tesseract"},
    "tesseract-eng": {"engine": "tesseract", "languages": ("eng",)},
    "rapidocr": {"engine": "rapidocr"},
    "rapidocr-onnxruntime": {"engine": "rapidocr", "runtime": "onnxruntime"},
    **{f"rapidocr-det{side}": {"engine": "rapidocr", "det_side": side} for side in DET_SIDES},
}
SETS = {"squad-en": ROOT / "evaluation/data/squad-en", "cmrc-zh": ROOT / "evaluation/data/cmrc-zh"}


def ingest(kb: KBQA, pdfs: list[Path], collection: str) -> dict[str, float]:
    """Pages, seconds to index them, and of those the seconds until each was parsed (OCR)."""
    pages, parse_s = 0, 0.0
    start = time.perf_counter()
    for path in pdfs:
        began = time.perf_counter()

        def parsed(event: Progress, began: float = began) -> None:
            nonlocal parse_s
            if event.stage == "parsed":
                parse_s += time.perf_counter() - began

        pages += kb.ingest(path, collection, parsed).document.pages
    return {"pages": pages, "ingest_s": time.perf_counter() - start, "parse_s": parse_s}


def retrieval(kb: KBQA, questions: list[EvalQuestion], collection: str) -> dict[str, float]:
    """answer-recall@5; the same with the answer matched as OCR read it (90% of its characters,
    :func:`~evaluation.metrics.holds_answer_as_read`): whether search found the passage, apart
    from whether the recogniser read each character; and page-hit@5."""
    from evaluation.metrics import holds_answer_as_read
    from evaluation.runner import first_rank, page_hit

    recall = as_read = pages = 0
    for q in questions:
        hits = kb.search(q.question, [collection], top_k=5).hits
        recall += first_rank(hits, q, depth=5) is not None
        as_read += first_rank(hits, q, depth=5, holds=holds_answer_as_read) is not None
        pages += page_hit(hits, q)
    n = len(questions)
    return {"recall@5": recall / n, "recall_as_read@5": as_read / n, "page_hit@5": pages / n}


def answers(kb: KBQA, questions: list[EvalQuestion], collection: str) -> dict[str, float]:
    from evaluation.metrics import strip_citations, token_f1

    f1s, right_page = [], 0
    for q in questions:
        answer = kb.ask(q.question, collections=[collection], strategy="zero-shot")
        prediction = strip_citations(answer.answer) if answer.grounded else ""
        f1s.append(token_f1(prediction, q.answers))
        right_page += any(c.filename == q.document and c.page == q.page for c in answer.citations)
    return {"f1": statistics.fmean(f1s), "cites_gold_page": right_page / len(questions)}


def ocr_profile(
    scans: list[Path], originals: Path, options: OcrOptions, limit: int
) -> dict[str, float]:
    """Seconds per page in this process, one thread: rendering, then OCR (RapidOCR's steps
    apart, where it ran); and how close the text read is to the original's text layer
    (difflib's ratio of the characters, white space ignored, and of the words: 1 is
    identical). The engines are loaded before the first page."""
    from ingest.ocr import load_engine, read_scan, render

    assert options.engine is not None
    rapidocr = None
    for name in {options.engine, options.cjk_engine} - {None}:
        engine = load_engine(str(name), options)
        rapidocr = engine if name == "rapidocr" else rapidocr
    rendering = read = 0.0
    steps: dict[str, float] = {}
    similarity: list[float] = []
    words: list[float] = []
    pages = 0
    for path in scans:
        pdf = pypdfium2.PdfDocument(path)
        original = pypdfium2.PdfDocument(originals / path.name)
        for i in range(min(len(pdf), limit - pages)):
            start = time.perf_counter()
            image = render(pdf[i], options.dpi)
            rendering += time.perf_counter() - start
            if rapidocr is not None:
                rapidocr.last_steps = {}
            start = time.perf_counter()
            text, _ = read_scan(image, options)
            read += time.perf_counter() - start
            for name, seconds in (rapidocr.last_steps if rapidocr else {}).items():
                steps[name] = steps.get(name, 0.0) + seconds
            truth = original[i].get_textpage().get_text_bounded()
            similarity.append(_similar(truth, text))
            words.append(_similar_words(truth, text))
            pages += 1
        pdf.close()
        original.close()
    out = {"pages": float(pages), "render_s": rendering / pages, "ocr_s": read / pages}
    out["similarity"] = statistics.fmean(similarity)
    out["similarity_min"] = min(similarity)
    out["word_similarity"] = statistics.fmean(words)
    out |= {f"{k}_s": v / pages for k, v in steps.items()}
    out["pages_per_s"] = pages / (rendering + read)
    return out


def _similar(a: str, b: str) -> float:
    a, b = "".join(a.split()), "".join(b.split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _similar_words(a: str, b: str) -> float:
    """The ratio over words (letters and digits between the rest): English words run together
    count against it; for Chinese, runs of characters between punctuation."""
    words_a, words_b = WORD.findall(a.lower()), WORD.findall(b.lower())
    return difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


WORD = re.compile(r"\w+")


def _questions(folder: Path) -> list[EvalQuestion]:
    from evaluation.dataset import EvalQuestion

    with (folder / "questions.jsonl").open(encoding="utf-8") as lines:
        questions = [EvalQuestion.model_validate_json(line) for line in lines]
    return [q for q in questions if q.answerable]


def _names(value: str, known: Mapping[str, object]) -> list[str]:
    names = [v for v in value.split(",") if v]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; known: {', '.join(known)}")
    return names


def evaluate_set(
    name: str,
    versions: list[str],
    out: Path,
    dpi: int,
    answered: int,
    page_timeout: float,
    seed: int,
) -> dict[str, dict[str, float]]:
    """One dev set: its text version and its scans under each OCR set-up of ``versions``."""
    from core.settings import Settings
    from kbqa.app import KBQA

    folder = SETS[name]
    pdfs = sorted((folder / "pdfs").glob("*.pdf"))
    scans = scan_folder(pdfs, out / name / "scans", dpi)
    questions = _questions(folder)
    sample = random.Random(seed).sample(questions, min(answered, len(questions)))
    result: dict[str, dict[str, float]] = {}
    for version in ["text", *versions]:
        settings = Settings(
            data_dir=out / "data" / f"{name}-{version}",
            ingest=VERSIONS.get(version, {}) | {"ocr_page_timeout_s": page_timeout},
        )
        with KBQA(settings) as kb:
            row = ingest(kb, pdfs if version == "text" else scans, name)
            row |= retrieval(kb, questions, name)
            row["questions"] = len(questions)
            if sample and version in ("text", "default"):
                row |= answers(kb, sample, name)
                row["answered"] = len(sample)
        result[version] = row
        print(name, version, json.dumps(row), flush=True)
    return result


def print_table(report: dict[str, dict[str, dict[str, float]]]) -> None:
    print(
        "| set | version | answer-recall@5 | the same, as read | page-hit@5 | answer F1 "
        "| parse pages/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, result in report.items():
        for version, row in result.items():
            if version.startswith("profile-"):
                continue
            f1 = f"{row['f1']:.3f} ({row['answered']:.0f})" if "f1" in row else "-"
            print(
                f"| {name} | {version} | {row['recall@5']:.3f} | {row['recall_as_read@5']:.3f} "
                f"| {row['page_hit@5']:.3f} | {f1} "
                f"| {row['pages'] / row['parse_s']:.2f} |"
            )
    print(
        "\n| set | profile | pages | render s | OCR s | of which | pages/s | similarity "
        "| word similarity |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, result in report.items():
        for version, row in result.items():
            if version.startswith("profile-"):
                steps = ", ".join(
                    f"{k[:-2]} {v:.2f}"
                    for k, v in row.items()
                    if k.endswith("_s") and k not in ("render_s", "ocr_s", "pages_per_s")
                )
                print(
                    f"| {name} | {version[8:]} | {row['pages']:.0f} | {row['render_s']:.2f} | "
                    f"{row['ocr_s']:.2f} | {steps or '-'} | {row['pages_per_s']:.3f} | "
                    f"{row['similarity']:.4f} (min {row['similarity_min']:.3f}) | "
                    f"{row['word_similarity']:.4f} |"
                )


def ocr_eval(
    sets: Annotated[str, typer.Option(help=f"Comma-separated, of {', '.join(SETS)}.")] = ",".join(
        SETS
    ),
    versions: Annotated[
        str,
        typer.Option(
            help="OCR set-ups the scans are indexed with, comma-separated: default (rapidocr "
            "for Chinese pages, tesseract for others), tesseract or rapidocr alone, onnxruntime "
            "(rapidocr's models on it), 1-process (one OCR process), 1-process-2-threads, "
            f"det-N (rapidocr's detection at N pixels a side, N of {DET_SIDES})."
        ),
    ] = "default",
    answers: Annotated[
        int,
        typer.Option(
            min=0, help="Questions per set answered by the real model (text and default)."
        ),
    ] = 20,
    profiles: Annotated[
        str,
        typer.Option(help=f"OCR set-ups profiled page by page, of {', '.join(PROFILES)}."),
    ] = "default,tesseract,rapidocr",
    profile_pages: Annotated[int, typer.Option(min=0, help="Pages per set-up profiled.")] = 4,
    page_timeout: Annotated[float, typer.Option(help="OCR seconds per page allowed.")] = 120,
    dpi: Annotated[int, typer.Option(help="Resolution of the scans.")] = 150,
    ocr_dpi: Annotated[int, typer.Option(help="Resolution pages are profiled at.")] = 200,
    out: Annotated[Path, typer.Option(help="Scans, indexes and results.json.")] = ROOT
    / "build/bench/ocr",
    seed: Annotated[int, typer.Option(help="Seed of the answered sample.")] = 0,
) -> None:
    """Scanned against text copies of the dev sets: recall, answers' F1, OCR speed."""
    from ingest.ocr import OcrOptions

    chosen, names = _names(versions, VERSIONS), _names(sets, SETS)
    profiled = _names(profiles, PROFILES) if profile_pages else []
    shutil.rmtree(out / "data", ignore_errors=True)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        result = evaluate_set(name, chosen, out, dpi, answers, page_timeout, seed)
        scans = sorted((out / name / "scans").glob("*.pdf"))
        for setup in profiled:
            options = OcrOptions(**PROFILES[setup], dpi=ocr_dpi)  # type: ignore[arg-type]
            profile = ocr_profile(scans, SETS[name] / "pdfs", options, profile_pages)
            result[f"profile-{setup}"] = profile
            print(name, setup, json.dumps(profile), flush=True)
        report[name] = result
    print()
    print_table(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(ocr_eval)
