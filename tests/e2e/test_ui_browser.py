"""The UI in a real browser: Debian's headless Chromium, driven by Playwright, against
`kbqa serve` with the packaged models. Upload a PDF, ask, open the cited page with the passage
highlighted beside the chat, download the original, reload, stop an answer.

Screenshots go to the test's folder, and to $KBQA_SCREENSHOTS when set (the README's and
docs/source-highlight.png come from `KBQA_SCREENSHOTS=docs pytest tests/e2e/test_ui_browser.py`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.net import free_port
from tests.e2e.test_end_to_end import PAGES
from tests.utils.pdfs import make_text_pdf
from tests.utils.servers import wait_until_up

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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
