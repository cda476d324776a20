"""A new user's trial, scripted: ``trial-corpus`` makes the files a person would bring (text
PDFs, a Word file, an English and a Chinese scan), ``trial`` drives Chromium through the UI of a
running ``kbqa serve``: uploads with their progress, questions in one conversation, a cited page
opened, a document deleted. It writes a screenshot of each step and ``log.json`` (what was
asked, what was answered, in how long); whether an answer is right is a person's call
(docs/trials.md). Needs Debian's chromium and the test extras (Playwright, python-docx).

    python -m benchmarks trial-corpus build/trial/corpus
    kbqa serve &
    python -m benchmarks trial benchmarks/trial/zh.json build/trial/zh --corpus build/trial/corpus
    python -m benchmarks trial benchmarks/trial/en.json build/trial/en --corpus build/trial/corpus
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from benchmarks.console import console
from core.i18n import Lang, message, parse_lang

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "benchmarks/data/squad-v1.1-dev-half-a.json"
CMRC_PDFS = ROOT / "evaluation/data/cmrc-zh/pdfs"
# Articles of the SQuAD half that the dev set (evaluation/data/squad-en) does not hold.
ARTICLES = ("Genghis_Khan", "Harvard_University", "Packet_switching", "Super_Bowl_50", "Warsaw")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's (make browser)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANSWER_S = 300  # most seconds an answer may take


def trial_corpus(
    out: Annotated[Path, typer.Argument(help="Folder for the trial's files.")],
) -> None:
    """The trial's files: Apollo and Black Death (samples/), Harvard, packet switching and
    Super Bowl 50 as text PDFs, Warsaw as a Word file, Genghis Khan as an English scan (SQuAD
    v1.1 dev articles, CC BY-SA 4.0), one CMRC PDF as text and another as a Chinese scan."""
    import docx

    from benchmarks.make_dataset import make_dataset
    from benchmarks.scans import scan_pdf

    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    squad = json.loads(SQUAD.read_text())
    kept = [a for a in squad["data"] if a["title"] in ARTICLES]
    (work / "articles.json").parent.mkdir(parents=True, exist_ok=True)
    (work / "articles.json").write_text(json.dumps({"version": "1.1", "data": kept}))
    make_dataset(work / "articles.json", work / "set", lang="en")
    pdfs = work / "set/pdfs"
    for name in ("Harvard_University", "Packet_switching", "Super_Bowl_50"):
        shutil.copy(pdfs / f"{name}.pdf", out)
    for sample in sorted((ROOT / "samples").glob("*.pdf")):
        shutil.copy(sample, out)
    (out / "Genghis_Khan_scan.pdf").write_bytes(scan_pdf((pdfs / "Genghis_Khan.pdf").read_bytes()))
    shutil.copy(CMRC_PDFS / "cmrc-000.pdf", out)
    (out / "cmrc-002-scan.pdf").write_bytes(scan_pdf((CMRC_PDFS / "cmrc-002.pdf").read_bytes()))
    document = docx.Document()
    document.add_heading("Warsaw", 0)
    for paragraph in next(a for a in kept if a["title"] == "Warsaw")["paragraphs"]:
        document.add_paragraph(paragraph["context"])
    document.save(str(out / "Warsaw.docx"))
    shutil.rmtree(work)
    console.print(f"{len(list(out.iterdir()))} files in {out}")


def trial(
    scenario: Annotated[Path, typer.Argument(help="The steps: benchmarks/trial/*.json.")],
    out: Annotated[Path, typer.Argument(help="Folder for screenshots and log.json.")],
    corpus: Annotated[Path, typer.Option(help="Where trial-corpus put the files.")] = Path(
        "build/trial/corpus"
    ),
    url: Annotated[str, typer.Option(help="The UI of a running kbqa serve.")] = (
        "http://127.0.0.1:8501"
    ),
) -> None:
    """Drive the UI through a scenario's steps in Chromium, in the scenario's locale (the UI's
    language follows the browser's): screenshots and log.json in ``out``."""
    from playwright.sync_api import sync_playwright

    plan = json.loads(scenario.read_text())
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=plan["locale"])
        page.goto(url)
        page.get_by_test_id("stChatInputTextArea").wait_for(timeout=120_000)
        steps = _Steps(page, parse_lang(plan["locale"]), corpus, out)
        for step in plan["steps"]:
            kind = next(iter(step))
            record = getattr(steps, kind)(step[kind])
            steps.log.append({kind: step[kind], **record})
            console.print(json.dumps(steps.log[-1], ensure_ascii=False)[:400])
        browser.close()
    (out / "log.json").write_text(json.dumps(steps.log, ensure_ascii=False, indent=1))


class _Steps:
    """What a person does in the UI, one method a step, finding its buttons by their labels in
    the UI's language (the catalog's words)."""

    def __init__(self, page: Any, lang: Lang, corpus: Path, out: Path) -> None:
        self.page, self.lang, self.corpus, self.out = page, lang, corpus, out
        self.log: list[dict[str, Any]] = []

    def said(self, key: str, **values: object) -> str:
        return message(f"ui.{key}", self.lang, **values)

    def shot(self, name: str) -> str:
        path = self.out / f"{len(self.log) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        return path.name

    def upload(self, files: list[str]) -> dict[str, Any]:
        """Add files in the sidebar, index them, and watch the progress bars until done."""
        started = time.monotonic()
        self.page.locator("input[type=file]").set_input_files([self.corpus / f for f in files])
        time.sleep(2)
        sidebar = self.page.get_by_test_id("stSidebar")
        sidebar.locator("button", has_text=self.said("index")).click()
        progress: list[tuple[float, str]] = []
        while True:
            time.sleep(2)
            bars = " / ".join(self.page.get_by_test_id("stProgress").all_inner_texts())
            if bars and (not progress or progress[-1][1] != bars):
                progress.append((round(time.monotonic() - started, 1), bars))
                if len(progress) == 2:  # the first pages read: the progress as a person saw it
                    self.shot("progress")
            if not bars and time.monotonic() - started > 6:
                break
        report = sidebar.get_by_test_id("stAlert").all_inner_texts()
        seconds = round(time.monotonic() - started, 1)
        return {
            "seconds": seconds,
            "progress": progress,
            "report": report,
            "shot": self.shot("indexed"),
        }

    def ask(self, question: str) -> dict[str, Any]:
        """Ask in the chat and wait for the whole answer: the stop button gone."""
        messages = self.page.get_by_test_id("stChatMessage")
        before = messages.count()
        box = self.page.get_by_test_id("stChatInputTextArea")
        box.fill(question)
        started = time.monotonic()
        box.press("Enter")
        while (
            messages.count() < before + 2
            or self.page.locator("button", has_text=self.said("stop_answer")).count()
        ):
            if time.monotonic() - started > ANSWER_S:
                break
            time.sleep(0.3)
        seconds = round(time.monotonic() - started, 1)
        time.sleep(1)
        answer = messages.last
        answer.scroll_into_view_if_needed()
        return {"seconds": seconds, "answer": answer.inner_text(), "shot": self.shot("answer")}

    def source(self, document: str) -> dict[str, Any]:
        """Open the last answer's citation of ``document``: its page beside the chat."""
        cited = self.page.get_by_test_id("stChatMessage").last.locator("button")
        cited = cited.filter(has_text=document)
        if not cited.count():
            return {"opened": None, "shot": self.shot("no-source")}
        cited.first.click()
        time.sleep(3)
        image = self.page.get_by_test_id("stImage")
        if image.count():  # a page; a Word file's passage has none
            image.first.scroll_into_view_if_needed()
            time.sleep(1)
        return {"opened": cited.first.inner_text(), "shot": self.shot("source")}

    def delete(self, filename: str) -> dict[str, Any]:
        """Delete a document from the default collection's list, confirming."""
        listed = self.said("documents_in", collection="default", count="#").replace("**", "")
        self.page.get_by_text(listed.split("#")[0].rstrip(" (（")).first.click()
        time.sleep(1)
        label = self.said("delete_document")
        self.page.get_by_test_id("stSelectbox").filter(has_text=label).locator("input").click()
        self.page.get_by_role("option", name=filename).click()
        time.sleep(1)
        button = self.said("delete_document_button", filename=filename)
        self.page.locator("button", has_text=button).first.click()
        time.sleep(1)
        self.page.locator("button", has_text=self.said("yes_delete")).first.click()
        time.sleep(3)
        return {"shot": self.shot("deleted")}
