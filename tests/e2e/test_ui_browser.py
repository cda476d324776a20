"""The UI in a real browser: Debian's headless Chromium, driven by Playwright, against
`kbqa serve` with the packaged models. Upload a PDF, ask, open the cited page with the passage
highlighted beside the chat, download the original, reload, stop an answer. And, with fake
models, Streamlit's own file uploader in Chinese for a Chinese browser.

Screenshots go to the test's folder, and to $KBQA_SCREENSHOTS when set (the README's and
docs/source-highlight.png come from `KBQA_SCREENSHOTS=docs pytest tests/e2e/test_ui_browser.py`).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.trial import CHROMIUM, FLAGS
from core.i18n import message
from core.net import free_port
from tests.e2e.test_end_to_end import PAGES
from tests.utils.pdfs import make_text_pdf
from tests.utils.servers import kbqa_serve, wait_until_up

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test)"),
]
# The words an element shows a person, in document order: its text drawn at a size (not hidden,
# not font size 0, not a screen reader's 1 px label, not an icon's ligature) and its elements'
# ::after content.
SHOWN_TEXT = """root => {
  const words = [];
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walk.currentNode; node; node = walk.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      const parent = node.parentElement, range = document.createRange();
      range.selectNodeContents(node);
      const box = range.getBoundingClientRect(), own = parent.getBoundingClientRect();
      if (node.textContent.trim() && box.width > 0 && box.height > 0
          && own.width > 1 && own.height > 1
          && parent.checkVisibility({visibilityProperty: true, opacityProperty: true})
          && !parent.closest('[data-testid=stIconMaterial]')) words.push(node.textContent.trim());
    } else {
      const after = getComputedStyle(node, '::after').content;
      if (after.startsWith('"') && after.length > 2) words.push(JSON.parse(after));
    }
  }
  return words.join(' ');
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui")
    api_port, ui_port = free_port(), free_port()
    env = {
        **os.environ,
        "KBQA_DATA_DIR": str(root / "data"),
        "KBQA_UI__PORT": str(ui_port),
        "KBQA_API__KEYS": '["ui-e2e-key-0123456789abcdef"]',
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "serve"]
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen(
        [*cmd, "--port", str(api_port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for url in (f"127.0.0.1:{api_port}/health", f"127.0.0.1:{ui_port}/_stcore/health"):
            wait_until_up(f"http://{url}", process=process, log=root / "serve.log")
        yield f"http://127.0.0.1:{ui_port}"
    finally:
        process.terminate()  # SIGTERM, as a service manager stops it: the UI must go too
        process.wait(timeout=60)
        log.close()
    deadline = time.monotonic() + 15
    while _listening(ui_port):
        assert time.monotonic() < deadline, "the UI outlived kbqa serve"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fake_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kbqa serve` with fake models, its files limited to 5 MB: for what the page says."""
    ui_port = free_port()
    env = {
        "KBQA_EMBEDDING__BACKEND": "fake",
        "KBQA_LLM__BACKEND": "fake",
        "KBQA_INGEST__MAX_FILE_MB": "5",
        "KBQA_UI__PORT": str(ui_port),
    }
    with kbqa_serve(tmp_path_factory.mktemp("ui-fake"), env=env) as (_, process):
        wait_until_up(f"http://127.0.0.1:{ui_port}/_stcore/health", process=process)
        yield f"http://127.0.0.1:{ui_port}"


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_upload_ask_and_reload_in_chromium(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = [
        tmp_path,
        *([Path(os.environ["KBQA_SCREENSHOTS"])] if "KBQA_SCREENSHOTS" in os.environ else []),
    ]

    def screenshot(page, name: str) -> None:  # noqa: ANN001 - a Playwright Page
        for folder in shots:
            page.screenshot(path=str(folder / name))

    pdf = make_text_pdf(tmp_path / "water-board.pdf", PAGES)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(app_url)
        page.get_by_text("Add documents").wait_for(timeout=60_000)
        page.locator("input[type=file]").set_input_files(str(pdf))
        page.get_by_role("button", name="Index").click()
        expect(page.get_by_text("water-board.pdf: 3 pages, 3 passages indexed.")).to_be_visible(
            timeout=120_000
        )
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("In which year was the Elmstead reservoir completed?")
        box.press("Enter")
        source = page.get_by_role("button", name="water-board.pdf, p. 2")
        expect(source).to_be_visible(timeout=300_000)
        expect(page.get_by_test_id("stChatMessage").last).to_contain_text("1887")
        source.click()  # the cited page beside the chat, the passage highlighted on it
        expect(page.get_by_text("completed in 1887").last).to_be_visible()
        cited = page.get_by_test_id("stImage").filter(has_text="Page 2")
        expect(cited).to_be_visible(timeout=60_000)
        image = cited.locator("img")
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 500  # the passage, from a 1000 px page
        screenshot(page, "source-highlight.png")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download original").click()
        saved = Path(download.value.path())
        assert (
            hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(pdf.read_bytes()).digest()
        )
        screenshot(page, "ui-answer.png")
        assert "?c=" in page.url
        page.reload()  # a new session: the conversation comes back from the URL
        expect(source).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stChatMessage").last).to_contain_text("1887")
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("Who was the engineer in charge of the works?")
        box.press("Enter")
        page.get_by_role("button", name="Stop").click(timeout=60_000)  # while it is answered
        expect(page.get_by_text("Stopped.")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Stop")).to_have_count(0)
        browser.close()


def test_streamlits_uploader_speaks_chinese_to_a_chinese_browser(
    fake_app_url: str, tmp_path: Path
) -> None:
    """Streamlit writes its uploader's words in English; the UI puts the catalog's in their
    place (ui/lang.py). Read as drawn: hidden text does not count, ::after content does."""
    from playwright.sync_api import expect, sync_playwright

    shots = [
        tmp_path,
        *([Path(os.environ["KBQA_SCREENSHOTS"])] if "KBQA_SCREENSHOTS" in os.environ else []),
    ]
    zh = {key: message(f"ui.{key}", "zh") for key in ("upload_drop", "upload_button")}
    limit = {
        lang: message("ui.upload_limit", lang, size=5, types=message("ui.document_types", lang))
        for lang in ("zh", "en")
    }
    english = ("Drag and drop", "Upload", "per file")
    pdf = make_text_pdf(tmp_path / "water-board.pdf", PAGES)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for locale in ("zh-CN", "en-US"):
            page = browser.new_page(viewport={"width": 1280, "height": 800}, locale=locale)
            page.goto(fake_app_url)
            dropzone = page.get_by_test_id("stFileUploaderDropzone")
            dropzone.wait_for(timeout=60_000)
            shown = dropzone.evaluate(SHOWN_TEXT)
            for folder in shots:
                page.get_by_test_id("stSidebar").screenshot(
                    path=str(folder / f"uploader-{locale[:2]}.png")
                )
            if locale == "en-US":  # Streamlit's own words, but for the kinds of file kbqa reads
                assert shown == f"Upload {limit['en']}", shown
                continue
            assert shown == f"{zh['upload_button']} {limit['zh']}"
            assert not any(word in shown for word in english)
            dragged = page.evaluate_handle(
                "() => { const files = new DataTransfer();"
                " files.items.add(new File(['%PDF'], 'a.pdf', {type: 'application/pdf'}));"
                " return files; }"
            )
            dropzone.dispatch_event("dragenter", {"dataTransfer": dragged})
            expect(dropzone).to_contain_text("Drag and drop")  # Streamlit's overlay is up
            assert dropzone.evaluate(SHOWN_TEXT).startswith(zh["upload_drop"])
            dropzone.dispatch_event("dragleave", {"dataTransfer": dragged})
            with page.expect_file_chooser() as chooser:  # the button still opens the picker
                dropzone.get_by_role("button", name=zh["upload_button"]).click()
            chooser.value.set_files(str(pdf))
            expect(page.get_by_test_id("stFileChip")).to_be_visible(timeout=30_000)
            shown = dropzone.evaluate(SHOWN_TEXT)  # the file, its size, no English words
            assert re.fullmatch(r"water-board\.pdf [\d.]+KB", shown), shown
            chat = page.get_by_test_id("stChatInput")
            assert chat.evaluate(SHOWN_TEXT) == ""
            assert page.get_by_test_id("stChatInputTextArea").get_attribute("placeholder") == (
                message("ui.ask_placeholder", "zh", limit="4,000")
            )
            # A text box's hint and an empty list's words: Streamlit's English, replaced too.
            page.get_by_text(message("ui.answer_settings", "zh")).click()
            box = page.get_by_test_id("stTextInput").filter(has_text=message("ui.stop", "zh"))
            box.locator("input").fill("###")
            hint = box.get_by_test_id("InputInstructions")
            expect(hint).to_contain_text("Press Enter")  # Streamlit's words, drawn at size 0
            assert hint.evaluate(SHOWN_TEXT) == message("ui.press_enter", "zh")
            picker = page.get_by_test_id("stMultiSelect").first
            picker.locator("input").fill("no such collection")
            listing = page.get_by_role("listbox")
            expect(listing).to_contain_text("No results")
            assert listing.evaluate(SHOWN_TEXT) == message("ui.no_results", "zh")
            for folder in shots:
                page.get_by_test_id("stSidebar").screenshot(path=str(folder / "hints-zh.png"))
            # A kind of file kbqa does not read: refused by the API, in Chinese, not by
            # Streamlit's English tooltip ("application/zip files are not allowed.").
            picker.locator("input").fill("")
            page.keyboard.press("Escape")
            archive = tmp_path / "notes.zip"
            archive.write_bytes(b"PK\x03\x04 not a document")
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(archive))
            expect(page.get_by_test_id("stFileChip")).to_have_count(2, timeout=30_000)
            assert page.locator('[data-testid="stFileChip"][aria-invalid="true"]').count() == 0
            sidebar = page.get_by_test_id("stSidebar")  # by text: the open list hides roles
            sidebar.locator("button", has_text=message("ui.index", "zh")).click()
            refused = (
                page.get_by_test_id("stSidebar")
                .get_by_test_id("stAlert")
                .filter(has_text="notes.zip")
            )
            expect(refused).to_contain_text(
                message("ingest.unsupported_type", "zh", filename="notes.zip"), timeout=60_000
            )
            expect(refused).to_contain_text(
                message("ui.hint_unsupported_type", "zh", types=message("ui.document_types", "zh"))
            )
            for folder in shots:
                refused.screenshot(path=str(folder / "refused-zh.png"))
        browser.close()
