"""Build a PDF evaluation set from a SQuAD-format JSON file.

Usage::

    python benchmarks/make_dataset.py SRC.json OUTDIR [--lang en|zh] [--articles N]
        [--questions-per-article M] [--unanswerable K] [--seed S]

Writes one PDF per article (or per group of tiny one-paragraph articles, as in CMRC 2018) to
``OUTDIR/pdfs/`` and ``OUTDIR/questions.jsonl`` with one line per question::

    {"id": ..., "question": ..., "answers": [...], "document": "x.pdf", "page": 3}

Every ``page`` is verified: each PDF is read back with pypdfium2 and the answer is located in the
extracted text (whitespace removed) at or after its own paragraph. Questions whose page cannot be
verified are dropped and counted in the printed summary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TextIO

import pypdfium2 as pdfium
import typer
from fontTools import subset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos

DEJAVU_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_PACKAGE = "fonts-dejavu-core"
CJK_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
CJK_PACKAGE = "fonts-wqy-microhei"

BODY_SIZE_PT = 11.0
HEADING_SIZE_PT = 16.0
LINE_HEIGHT_MM = 5.5
HEADING_LINE_HEIGHT_MM = 9.0
PARAGRAPH_GAP_MM = 3.0
MARGIN_MM = 20.0
GROUP_SIZE = 8
ANCHOR_LEN = 30
FIXED_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
# Characters a PDF text layer may add, drop or substitute around line-end hyphenation.
HYPHEN_CHARS = "-\u00ad\u2010\u2011\x02"
WHITESPACE_RE = re.compile(r"\s+")
HYPHEN_RE = re.compile(f"[{re.escape(HYPHEN_CHARS)}]")


class FontMissingError(RuntimeError):
    """Raised when a TTF font needed to render the PDFs is not installed."""


@dataclass
class Question:
    """One question with its gold answers (text and character offset in the paragraph)."""

    qid: str
    question: str
    answers: list[tuple[str, int]]


@dataclass
class Paragraph:
    """A paragraph of an article and the questions asked about it."""

    context: str
    questions: list[Question]


@dataclass
class Article:
    """A titled article made of paragraphs."""

    index: int
    title: str
    ident: str
    paragraphs: list[Paragraph]


@dataclass
class Document:
    """One output PDF holding one or more articles."""

    filename: str
    articles: list[Article]


@dataclass
class Stats:
    """Counters for the final summary."""

    articles: int = 0
    pdfs: int = 0
    pages: int = 0
    kept: int = 0
    dropped: int = 0
    dropped_ids: list[str] = field(default_factory=list)
    unanswerable: int = 0


# --------------------------------------------------------------------------- loading


def load_articles(src: Path) -> list[Article]:
    """Read a SQuAD-format JSON file.

    Args:
        src: Path to the JSON file (``data[].title``, ``data[].paragraphs[]``).

    Returns:
        The articles in file order.
    """
    raw = json.loads(src.read_text(encoding="utf-8"))
    return [_parse_article(i, item) for i, item in enumerate(raw["data"])]


def _parse_article(index: int, item: dict) -> Article:
    paragraphs = [
        Paragraph(context=p["context"], questions=[_parse_question(q) for q in p["qas"]])
        for p in item["paragraphs"]
    ]
    ident = str(item.get("id") or (item["paragraphs"][0].get("id") if item["paragraphs"] else ""))
    return Article(
        index=index, title=str(item.get("title") or ""), ident=ident, paragraphs=paragraphs
    )


def _parse_question(qa: dict) -> Question:
    answers = [(a["text"], int(a.get("answer_start", -1))) for a in qa.get("answers", [])]
    return Question(qid=str(qa["id"]), question=qa["question"], answers=answers)


# --------------------------------------------------------------------------- sampling


def sample_articles(articles: list[Article], n: int | None, rng: random.Random) -> list[Article]:
    """Pick ``n`` articles at random (keeping file order), or all when ``n`` is None."""
    if n is None or n >= len(articles):
        return articles
    return sorted(rng.sample(articles, n), key=lambda a: a.index)


def sample_questions(article: Article, m: int | None, rng: random.Random) -> None:
    """Keep at most ``m`` randomly chosen questions of an article (in place)."""
    pairs = [(pi, q) for pi, p in enumerate(article.paragraphs) for q in p.questions]
    if m is None or m >= len(pairs):
        return
    keep = {id(q) for _, q in rng.sample(pairs, m)}
    for p in article.paragraphs:
        p.questions = [q for q in p.questions if id(q) in keep]


# --------------------------------------------------------------------------- grouping / names


def slugify(text: str, max_len: int = 80) -> str:
    """Return an ASCII file-name-safe slug of ``text`` (may be empty)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "_", ascii_text).strip("_")
    return slug[:max_len].rstrip("_")


def default_prefix(src: Path) -> str:
    """Derive a short file-name prefix from the source file name (``cmrc2018-trial`` -> cmrc)."""
    match = re.match(r"[a-z]+", src.stem.lower())
    return match.group(0) if match else "doc"


def plan_documents(articles: list[Article], prefix: str) -> list[Document]:
    """Assign articles to PDFs.

    Articles of a single paragraph (CMRC) are grouped ``GROUP_SIZE`` per PDF named
    ``<prefix>-000.pdf``; otherwise each article gets its own PDF named after its title.
    """
    if articles and all(len(a.paragraphs) <= 1 for a in articles):
        groups = [articles[i : i + GROUP_SIZE] for i in range(0, len(articles), GROUP_SIZE)]
        return [Document(f"{prefix}-{i:03d}.pdf", g) for i, g in enumerate(groups)]
    docs: list[Document] = []
    used: set[str] = set()
    for a in articles:
        stem = slugify(a.title) or f"{prefix}-{a.index:03d}"
        name, n = stem, 2
        while name.lower() in used:
            name, n = f"{stem}-{n}", n + 1
        used.add(name.lower())
        docs.append(Document(f"{name}.pdf", [a]))
    return docs


# --------------------------------------------------------------------------- fonts


def find_cjk_font() -> Path:
    """Locate a CJK TTF/TTC font, preferring WenQuanYi Micro Hei.

    Raises:
        FontMissingError: If no CJK font is installed.
    """
    for path in CJK_CANDIDATES:
        if path.is_file():
            return path
    for path in _fc_list_zh():
        if path.suffix.lower() in {".ttf", ".ttc", ".otf"}:
            return path
    raise FontMissingError(
        f"No CJK font found (looked for {CJK_CANDIDATES[0]}). "
        f"Install the Debian package: apt-get install -y {CJK_PACKAGE}"
    )


def _fc_list_zh() -> list[Path]:
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return []
    return sorted(Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip())


def find_latin_font() -> Path:
    """Return the DejaVuSans path.

    Raises:
        FontMissingError: If DejaVuSans is not installed.
    """
    if DEJAVU_PATH.is_file():
        return DEJAVU_PATH
    raise FontMissingError(
        f"Font {DEJAVU_PATH} not found. Install the Debian package: "
        f"apt-get install -y {DEJAVU_PACKAGE}"
    )


def font_plan(lang: str) -> list[Path]:
    """Return the font files to use, main font first, then fallbacks for missing glyphs."""
    if lang == "zh":
        fonts = [find_cjk_font()]
        if DEJAVU_PATH.is_file():
            fonts.append(DEJAVU_PATH)
        return fonts
    fonts = [find_latin_font()]
    with contextlib.suppress(FontMissingError):
        fonts.append(find_cjk_font())
    return fonts


@dataclass
class FontSet:
    """Candidate fonts with the code points each one covers."""

    paths: list[Path]
    coverage: list[frozenset[int]]

    @classmethod
    def load(cls, paths: Sequence[Path]) -> FontSet:
        """Read the character maps of ``paths`` (TTC: first face)."""
        coverage = []
        for path in paths:
            font = TTFont(str(path), fontNumber=0, lazy=True)
            coverage.append(frozenset(font.getBestCmap()))
            font.close()
        return cls(list(paths), coverage)

    def subset(self, chars: set[int], workdir: Path) -> FontSet:
        """Return the same fonts cut down to ``chars`` (saved as TTF files in ``workdir``).

        fpdf2 parses and subsets every font once per PDF; with a 28,000-glyph CJK font that
        dominates the run time, so the fonts are cut to the dataset's characters once up front.
        """
        paths = []
        for i, path in enumerate(self.paths):
            out = workdir / f"{i}-{path.stem}.ttf"
            subset_font(path, chars, out)
            paths.append(out)
        return FontSet.load(paths)

    def for_text(self, chars: set[int]) -> list[Path]:
        """Return the main font plus only those fallbacks that cover a missing character."""
        chosen = [self.paths[0]]
        missing = {c for c in chars if c > 32} - self.coverage[0]
        for path, cover in zip(self.paths[1:], self.coverage[1:], strict=True):
            if missing & cover:
                chosen.append(path)
                missing -= cover
        return chosen


def subset_font(path: Path, chars: set[int], out: Path) -> None:
    """Write a TrueType subset of ``path`` (first face of a TTC) covering ``chars`` to ``out``."""
    options = subset.Options()
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.layout_features = []
    font = TTFont(str(path), fontNumber=0, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=chars)
    subsetter.subset(font)
    font.save(str(out))
    font.close()


def document_chars(doc: Document) -> set[int]:
    """Return the code points used in a document's headings and paragraphs."""
    chars: set[int] = set()
    for article in doc.articles:
        chars.update(map(ord, display_title(article)))
        for para in article.paragraphs:
            chars.update(map(ord, para.context))
    return chars


# --------------------------------------------------------------------------- PDF writing


def new_pdf(fonts: Sequence[Path], title: str) -> FPDF:
    """Create an A4 FPDF with the body font registered and fallbacks for missing glyphs."""
    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    names = [f"f{i}" for i in range(len(fonts))]
    for name, path in zip(names, fonts, strict=True):
        pdf.add_font(name, fname=str(path))
    if len(names) > 1:
        pdf.set_fallback_fonts(names[1:])
    pdf.set_font(names[0], size=BODY_SIZE_PT)
    return pdf


def write_document(doc: Document, path: Path, fonts: Sequence[Path], lang: str) -> None:
    """Render the articles of ``doc`` to ``path``: a heading per article, then its paragraphs."""
    pdf = new_pdf(fonts, doc.articles[0].title if len(doc.articles) == 1 else doc.filename)
    wrap = WrapMode.CHAR if lang == "zh" else WrapMode.WORD
    pdf.add_page()
    for k, article in enumerate(doc.articles):
        if k:
            pdf.ln(PARAGRAPH_GAP_MM * 2)
        if pdf.get_y() > pdf.page_break_trigger - HEADING_LINE_HEIGHT_MM - 3 * LINE_HEIGHT_MM:
            pdf.add_page()  # no heading orphaned at the foot of a page
        _write_block(pdf, display_title(article), HEADING_SIZE_PT, HEADING_LINE_HEIGHT_MM, wrap)
        for para in article.paragraphs:
            pdf.ln(PARAGRAPH_GAP_MM)
            _write_block(pdf, para.context, BODY_SIZE_PT, LINE_HEIGHT_MM, wrap)
    pdf.output(str(path))


def _write_block(pdf: FPDF, text: str, size: float, line_h: float, wrap: WrapMode) -> None:
    pdf.set_font_size(size)
    pdf.multi_cell(
        0, line_h, text, align=Align.L, wrapmode=wrap, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def display_title(article: Article) -> str:
    """Return the heading for an article (SQuAD titles use underscores for spaces)."""
    return article.title.replace("_", " ").strip() or article.ident or f"Article {article.index}"


# --------------------------------------------------------------------------- verification


def normalise(text: str, lang: str) -> str:
    """Normalise text for matching: NFKC, no whitespace, and for English no hyphen marks."""
    text = WHITESPACE_RE.sub("", unicodedata.normalize("NFKC", text))
    if lang == "en":
        text = HYPHEN_RE.sub("", text)
    return text


def extract_pages(path: Path, lang: str) -> list[str]:
    """Return the normalised text of every page of a PDF."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [normalise(_page_text(pdf[i]), lang) for i in range(len(pdf))]
    finally:
        pdf.close()


def _page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()


class PageText:
    """The normalised text of a whole PDF with a map from offsets to 1-based pages."""

    def __init__(self, pages: Sequence[str]) -> None:
        """Concatenate ``pages`` and remember where each one starts."""
        self.text = "".join(pages)
        self.starts: list[int] = []
        offset = 0
        for page in pages:
            self.starts.append(offset)
            offset += len(page)

    def page_of(self, offset: int) -> int:
        """Return the 1-based page holding character ``offset``."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1


def locate_paragraph(doc_text: str, context_norm: str, cursor: int) -> int:
    """Find where a paragraph starts in the document text, at or after ``cursor``.

    Tries anchors of ``ANCHOR_LEN`` characters taken from the start of the paragraph, then from
    further in (in case a glyph at the start was lost), and returns -1 if none is found.
    """
    for skip in range(0, max(1, len(context_norm) - ANCHOR_LEN + 1), ANCHOR_LEN)[:4]:
        anchor = context_norm[skip : skip + ANCHOR_LEN]
        if not anchor:
            break
        found = doc_text.find(anchor, cursor)
        if found >= 0:
            return max(found - skip, cursor)
    return -1


def locate_answer(doc_text: str, para: Paragraph, q: Question, p_start: int, lang: str) -> int:
    """Return the document-text offset where an answer of ``q`` starts, or -1.

    First checks the gold ``answer_start`` mapped into normalised coordinates; if that does not
    match (e.g. inexact CMRC offsets), searches the answer text within the paragraph's span.
    """
    span_end = p_start + len(normalise(para.context, lang)) + ANCHOR_LEN
    for text, start in q.answers:
        needle = normalise(text, lang)
        if not needle or start < 0:
            continue
        expected = p_start + len(normalise(para.context[:start], lang))
        if doc_text.startswith(needle, expected):
            return expected
    for text, _ in q.answers:
        needle = normalise(text, lang)
        if not needle:
            continue
        found = doc_text.find(needle, p_start, span_end)
        if found >= 0:
            return found
    return -1


def verify_document(doc: Document, pages: Sequence[str], lang: str, stats: Stats) -> list[dict]:
    """Find the page of every question of ``doc``; drop (and count) those not found."""
    text = PageText(pages)
    records: list[dict] = []
    cursor = 0
    for article in doc.articles:
        for para in article.paragraphs:
            p_start = locate_paragraph(text.text, normalise(para.context, lang), cursor)
            if p_start >= 0:
                cursor = p_start + 1
            for q in para.questions:
                offset = locate_answer(text.text, para, q, p_start, lang) if p_start >= 0 else -1
                if offset < 0 or not q.question.strip():  # unverifiable page, or no question
                    stats.dropped += 1
                    stats.dropped_ids.append(q.qid)
                    continue
                records.append(question_record(q, doc.filename, text.page_of(offset)))
    return records


def question_record(q: Question, document: str, page: int) -> dict:
    """Return the JSONL record for a verified question."""
    answers = list(dict.fromkeys(text for text, _ in q.answers))
    return {
        "id": q.qid,
        "question": q.question,
        "answers": answers,
        "document": document,
        "page": page,
    }


# --------------------------------------------------------------------------- main


def render_document(doc: Document, path: Path, fonts: list[Path], lang: str) -> list[str]:
    """Write one PDF and return its normalised page texts (runs in a worker process)."""
    write_document(doc, path, fonts, lang)
    return extract_pages(path, lang)


def build(
    src: Path,
    outdir: Path,
    lang: str,
    n_articles: int | None,
    n_questions: int | None,
    seed: int,
    prefix: str | None = None,
    jobs: int | None = None,
    n_unanswerable: int = 0,
) -> Stats:
    """Build the PDFs and the questions file; return the counters."""
    font_paths = font_plan(lang)  # fail on a missing font before touching OUTDIR
    rng = random.Random(seed)
    every_article = load_articles(src)
    articles = sample_articles(every_article, n_articles, rng)
    unanswerable = unanswerable_records(every_article, articles, n_unanswerable, rng)
    for article in articles:
        sample_questions(article, n_questions, rng)
    docs = plan_documents(articles, prefix or default_prefix(src))
    pdf_dir = prepare_outdir(outdir)
    stats = Stats(articles=len(articles), pdfs=len(docs))
    paths = [pdf_dir / doc.filename for doc in docs]
    chars = set().union(*map(document_chars, docs))
    with tempfile.TemporaryDirectory(prefix="kbqa-fonts-") as workdir:
        fontset = FontSet.load(font_paths).subset(chars, Path(workdir))
        fonts = [fontset.for_text(document_chars(doc)) for doc in docs]
        with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            all_pages = list(pool.map(render_document, docs, paths, fonts, [lang] * len(docs)))
    with (outdir / "questions.jsonl").open("w", encoding="utf-8") as out:
        for doc, pages in zip(docs, all_pages, strict=True):
            stats.pages += len(pages)
            records = verify_document(doc, pages, lang, stats)
            stats.kept += len(records)
            write_jsonl(out, records)
        write_jsonl(out, unanswerable)
        stats.unanswerable = len(unanswerable)
    return stats


def unanswerable_records(
    every: list[Article], chosen: list[Article], n: int, rng: random.Random
) -> list[dict]:
    """``n`` questions from articles left out of the PDFs: the collection cannot answer them,
    so a grounded system should refuse. Their records have no answers, document or page."""
    kept = {a.index for a in chosen}
    pool = [q for a in every if a.index not in kept for p in a.paragraphs for q in p.questions]
    picked = rng.sample(pool, min(n, len(pool)))
    return [
        {"id": q.qid, "question": q.question, "answers": [], "document": None, "page": None}
        for q in picked
    ]


def prepare_outdir(outdir: Path) -> Path:
    """Create ``outdir/pdfs`` afresh (old PDFs are removed) and return it."""
    pdf_dir = outdir / "pdfs"
    if pdf_dir.exists():
        shutil.rmtree(pdf_dir)
    pdf_dir.mkdir(parents=True)
    return pdf_dir


def write_jsonl(out: TextIO, records: Iterable[dict]) -> None:
    """Write ``records`` as JSON lines (UTF-8, not ASCII-escaped)."""
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def make_dataset(
    src: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="SQuAD-format JSON file.")
    ],
    outdir: Annotated[Path, typer.Argument(help="Output folder (pdfs/ and questions.jsonl).")],
    lang: Annotated[str, typer.Option(help="Language of the set: en or zh.")] = "en",
    articles: Annotated[int | None, typer.Option(help="Sample N articles.")] = None,
    questions_per_article: Annotated[
        int | None, typer.Option(help="Sample at most M questions per article.")
    ] = None,
    unanswerable: Annotated[
        int,
        typer.Option(
            help="Add K questions from articles left out (answers: []), to measure refusals."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes for PDF rendering (default: CPU count).")
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="File-name prefix for untitled/grouped PDFs (default: from SRC)."),
    ] = None,
) -> None:
    """Build a PDF evaluation set from a SQuAD-format JSON file."""
    if lang not in ("en", "zh"):
        raise typer.BadParameter(f"must be en or zh, got {lang!r}", param_hint="--lang")
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        stats = build(
            src, outdir, lang, articles, questions_per_article, seed, prefix, jobs, unanswerable
        )
    except FontMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(code=2) from exc
    total = stats.kept + stats.dropped
    print(
        f"articles: {stats.articles}  PDFs: {stats.pdfs}  pages: {stats.pages}  "
        f"questions kept: {stats.kept}/{total}  dropped: {stats.dropped}  "
        f"unanswerable: {stats.unanswerable}  "
        f"({time.perf_counter() - started:.1f}s) -> {outdir}"
    )
    if stats.dropped_ids:
        shown = ", ".join(stats.dropped_ids[:10])
        more = " ..." if len(stats.dropped_ids) > 10 else ""
        print(f"dropped ids: {shown}{more}")


if __name__ == "__main__":
    typer.run(make_dataset)
