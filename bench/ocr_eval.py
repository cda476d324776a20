"""Scanned against text PDFs: does OCR lose what questions need?

Renders each dev-set PDF to a 150-dpi greyscale image-only copy (bench/scans.py), indexes the
text and the scanned versions (the scans once per OCR engine), and compares answer-recall@5
and page-hit@5 of the default retrieval (hybrid + rerank), the token F1 of real answers on a
sample, and OCR speed, with where its time goes (rendering, detection, recognition).

    python bench/ocr_eval.py                       # both dev sets, both engines, 10 answers
    python bench/ocr_eval.py --answers 0 --engines rapidocr

Writes ``build/bench/ocr/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pypdfium2  # noqa: E402

from bench.scans import scan_pdf  # noqa: E402
from core.settings import Settings  # noqa: E402
from evaluation.dataset import EvalQuestion  # noqa: E402
from evaluation.metrics import strip_citations, token_f1  # noqa: E402
from evaluation.runner import first_rank, page_hit  # noqa: E402
from kbqa.app import KBQA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VERSIONS: dict[str, dict[str, object]] = {  # OCR set-up of the scans -> ingest settings
    "default": {},
    "tesseract": {"ocr_engines": ["tesseract"], "ocr_cjk_engine": None},
    "rapidocr": {"ocr_engines": ["rapidocr"], "ocr_cjk_engine": None},
}
SETS = {"squad-en": ROOT / "evaluation/data/squad-en", "cmrc-zh": ROOT / "evaluation/data/cmrc-zh"}


def make_scans(pdfs: list[Path], folder: Path, dpi: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in pdfs:
        target = folder / path.name
        if not target.exists():
            target.write_bytes(scan_pdf(path.read_bytes(), dpi=dpi))


def ingest(kb: KBQA, pdfs: list[Path], collection: str) -> tuple[int, float]:
    start, pages = time.perf_counter(), 0
    for path in pdfs:
        pages += kb.ingest(path, collection).document.pages
    return pages, time.perf_counter() - start


def retrieval(kb: KBQA, questions: list[EvalQuestion], collection: str) -> dict[str, float]:
    recall = pages = 0
    for q in questions:
        hits = kb.search(q.question, [collection], top_k=5).hits
        recall += first_rank(hits, q, depth=5) is not None
        pages += page_hit(hits, q)
    return {"recall@5": recall / len(questions), "page_hit@5": pages / len(questions)}


def answers(kb: KBQA, questions: list[EvalQuestion], collection: str) -> dict[str, float]:
    f1s, right_page = [], 0
    for q in questions:
        answer = kb.ask(q.question, collections=[collection], strategy="zero-shot")
        prediction = strip_citations(answer.answer) if answer.grounded else ""
        f1s.append(token_f1(prediction, q.answers))
        right_page += any(c.filename == q.document and c.page == q.page for c in answer.citations)
    return {"f1": statistics.fmean(f1s), "cites_gold_page": right_page / len(questions)}


def ocr_profile(
    pdfs: list[Path], originals: Path, engine: str, dpi: int, languages: list[str], limit: int
) -> dict[str, float]:
    """Seconds per page in one process and one thread: rendering, then the engine's steps;
    and how close the text read is to the original's text layer (difflib's ratio, white
    space ignored: 1 is identical)."""
    from ingest.ocr import _engine

    ocr = _engine(engine, tuple(languages))
    render = read = 0.0
    steps: dict[str, float] = {}
    similarity: list[float] = []
    pages = 0
    for path in pdfs:
        pdf = pypdfium2.PdfDocument(path)
        original = pypdfium2.PdfDocument(originals / path.name)
        for i in range(min(len(pdf), limit - pages)):
            page = pdf[i]
            start = time.perf_counter()
            image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            render += time.perf_counter() - start
            start = time.perf_counter()
            if engine == "rapidocr":  # RapidOCR reports its own steps' seconds
                import numpy as np

                boxes, elapse = ocr._ocr(np.asarray(image.convert("RGB")))  # type: ignore[attr-defined]
                text = "".join(box[1] for box in boxes or [])
                for name, s in zip(("detect", "classify", "recognise"), elapse or [], strict=False):
                    steps[name] = steps.get(name, 0.0) + s
            else:
                text = ocr.read(image)
            read += time.perf_counter() - start
            truth = original[i].get_textpage().get_text_bounded()
            similarity.append(_similar(truth, text))
            pages += 1
        pdf.close()
        original.close()
    out = {"pages": float(pages), "render_s": render / pages, "ocr_s": read / pages}
    out["similarity"] = statistics.fmean(similarity)
    out |= {f"{k}_s": v / pages for k, v in steps.items()}
    out["pages_per_s"] = pages / (render + read)
    return out


def _similar(a: str, b: str) -> float:
    import difflib

    a, b = "".join(a.split()), "".join(b.split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument(
        "--versions",
        nargs="+",
        default=["default", "tesseract"],
        choices=list(VERSIONS),
        help="OCR set-ups of the scans: default (tesseract, rapidocr for Chinese pages), "
        "tesseract or rapidocr alone",
    )
    parser.add_argument("--profile-pages", type=int, default=6, help="pages per engine profiled")
    parser.add_argument(
        "--page-timeout", type=float, default=120, help="OCR seconds per page (a loaded machine)"
    )
    parser.add_argument("--dpi", type=int, default=150, help="resolution of the scans")
    parser.add_argument("--answers", type=int, default=10, help="answered questions per set")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/ocr")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    shutil.rmtree(args.out / "data", ignore_errors=True)
    report: dict[str, dict] = {}
    for name in args.sets:
        folder = SETS[name]
        pdfs = sorted((folder / "pdfs").glob("*.pdf"))
        make_scans(pdfs, args.out / name / "scans", args.dpi)
        scans = sorted((args.out / name / "scans").glob("*.pdf"))
        questions = [
            EvalQuestion.model_validate_json(line)
            for line in (folder / "questions.jsonl").open(encoding="utf-8")
        ]
        questions = [q for q in questions if q.answerable]
        sample = random.Random(args.seed).sample(questions, min(args.answers, len(questions)))
        result: dict[str, dict] = {}
        for version in ["text", *args.versions]:
            scanned = version != "text"
            settings = Settings(
                data_dir=args.out / "data" / f"{name}-{version}",
                ingest=VERSIONS.get(version, {}) | {"ocr_page_timeout_s": args.page_timeout},
            )
            with KBQA(settings) as kb:
                n_pages, seconds = ingest(kb, scans if scanned else pdfs, name)
                row: dict[str, float] = {"pages": n_pages, "ingest_s": seconds}
                row |= retrieval(kb, questions, name)
                if args.answers and version in ("text", "default"):
                    row |= answers(kb, sample, name)
            result[version] = row
            print(name, version, json.dumps(row), flush=True)
        for engine in ("tesseract", "rapidocr") if args.profile_pages else ():
            profile = ocr_profile(
                scans, folder / "pdfs", engine, 200, ["eng", "chi_sim"], args.profile_pages
            )
            result[f"profile-{engine}"] = profile
            print(name, engine, json.dumps(profile), flush=True)
        report[name] = result
    print()
    print("| set | version | answer-recall@5 | page-hit@5 | answer F1 | ingest pages/s |")
    print("|---|---|---|---|---|---|")
    for name, result in report.items():
        for version, row in result.items():
            if version.startswith("profile-"):
                continue
            f1 = f"{row['f1']:.3f}" if "f1" in row else "-"
            print(
                f"| {name} | {version} | {row['recall@5']:.3f} | {row['page_hit@5']:.3f} | {f1} "
                f"| {row['pages'] / row['ingest_s']:.2f} |"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
