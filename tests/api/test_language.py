"""The API speaks the question's language, and the Accept-Language header's where there is no
question: the status lines and notes of an answer, its errors, and failed uploads."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.errors import _HTTP_CODES
from core.errors import KbqaError
from core.i18n import has_message, message
from core.types import MAX_QUESTION_CHARS, Answer, Job
from tests.api.conftest import error_of, wait
from tests.api.test_ask import QUESTION, sse
from tests.utils.pdfs import make_corrupt_pdf

CHINESE = "上海位于哪里？"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.fixture
def chinese(loaded: TestClient) -> TestClient:
    """The water-board report, and a Chinese text in the collection 'zh'."""
    text = "北京是中国的首都。\f上海位于长江入海口。".encode()
    response = loaded.post(
        "/documents", params={"collection": "zh"}, files=[("files", ("zh.txt", text, "text/plain"))]
    )
    (job,) = [Job.model_validate(j) for j in response.json()["jobs"]]
    assert wait(loaded, job).state == "succeeded"
    return loaded


def _stages(client: TestClient, question: str, name: str = "zh", **headers: str) -> list[str]:
    body = {"question": question, "collections": [name], "stream": True, "stages": True}
    events = sse(client.post("/ask", json=body, headers=headers).text)
    return [data["message"] for event, data in events if event == "stage"]


def test_a_chinese_question_gets_its_status_lines_and_notes_in_chinese(
    chinese: TestClient,
) -> None:
    searching, writing = _stages(chinese, CHINESE)
    assert searching == message("stage.searching", "zh")
    assert writing.startswith("正在阅读")
    body = {"question": CHINESE, "collections": ["zh"]}
    notes = chinese.post("/search", json={"query": CHINESE, "collections": ["zh"]}).json()["notes"]
    assert message("notes.dense_skipped", "zh") in notes  # the fake embedder reads no CJK
    answer = Answer.model_validate(chinese.post("/ask", json=body).json())
    assert answer.answer in (message("refusal", "zh"), "上海位于长江入海口。[1]")


def test_an_english_question_stays_english_whatever_the_browser_says(
    chinese: TestClient,
) -> None:
    searching, writing = _stages(chinese, QUESTION, "default", **ZH)
    assert searching == message("stage.searching", "en") == "Searching the documents…"
    assert writing == "Reading 3 passages from 1 document and writing the answer…"


def test_an_error_comes_in_the_question_language_before_the_header(loaded: TestClient) -> None:
    body = {"question": CHINESE, "conversation_id": "nope"}
    said = error_of(loaded.post("/ask", json=body))
    assert said["message"] == "没有对话 'nope'"
    said = error_of(loaded.post("/ask", json={**body, "question": QUESTION}, headers=ZH))
    assert said["message"] == "no conversation 'nope'"
    too_long = error_of(loaded.post("/ask", json={"question": "问" * (MAX_QUESTION_CHARS + 1)}))
    assert too_long["message"] == "问题有 4,001 个字符，超过了 4,000 个字符的上限。"
    bad = error_of(loaded.post("/ask", json={"question": CHINESE, "top_k": 0}, headers={}))
    assert bad["message"].startswith("top_k 无效：")


@pytest.mark.parametrize(
    ("method", "path", "json", "chinese"),
    [
        ("GET", "/jobs/nope", None, "没有任务 'nope'"),
        ("GET", "/nowhere", None, "没有这个接口：GET /nowhere"),
        ("DELETE", "/collections/nope", None, "没有名为 'nope' 的知识库"),
        ("POST", "/ask", {"question": "   "}, "question 无效："),
        ("POST", "/search", {"query": "   "}, "query 无效："),
    ],
)
def test_an_error_without_a_question_speaks_the_accept_language(
    loaded: TestClient, method: str, path: str, json: dict | None, chinese: str
) -> None:
    english = error_of(loaded.request(method, path, json=json))
    said = error_of(loaded.request(method, path, json=json, headers=ZH))
    assert said["code"] == english["code"]
    assert said["message"].startswith(chinese), said
    assert english["message"].isascii()


def test_a_missing_key_is_said_in_chinese(loaded: TestClient) -> None:
    loaded.headers.pop("Authorization")
    said = error_of(loaded.get("/collections", headers=ZH))
    assert (said["code"], said["message"]) == ("unauthorized", message("errors.missing_key", "zh"))


def test_a_refused_file_is_said_in_the_accept_language(client: TestClient, tmp_path: Path) -> None:
    files = [("files", ("broken.pdf", make_corrupt_pdf(tmp_path / "b.pdf").read_bytes()))]
    english = error_of(client.post("/documents", files=files))
    assert english["message"].startswith("broken.pdf: is not a readable PDF")
    said = error_of(client.post("/documents", files=files, headers=ZH))
    assert said["message"] == message("ingest.corrupt", "zh", filename="broken.pdf")
    assert said["detail"] == english["detail"] == {"filename": "broken.pdf", "reason": "corrupt"}


def test_a_failed_job_is_said_in_the_language_of_whoever_reads_it(
    scan_without_ocr: tuple[TestClient, Job],
) -> None:
    client, failed = scan_without_ocr
    assert failed.error is not None
    assert "pip install rapidocr-onnxruntime" in failed.error.message  # English: the detail
    read = Job.model_validate(client.get(f"/jobs/{failed.id}", headers=ZH).json())
    assert read.error is not None
    assert read.error.message == message("ingest.needs_ocr", "zh", filename="scan.pdf")
    (listed,) = client.get("/jobs", headers=ZH).json()["jobs"]
    assert listed["error"]["message"] == read.error.message


def test_the_openai_footer_speaks_the_question_language(chinese: TestClient) -> None:
    body = {"model": "kbqa/zh", "messages": [{"role": "user", "content": "上海位于长江入海口吗？"}]}
    content = chinese.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
    if "[1]" in content["content"]:
        assert "来源：\n[1] zh.txt，第 2 页" in content["content"]
    else:
        assert content["content"] == message("refusal", "zh")


def test_every_error_code_has_a_sentence_in_every_language() -> None:
    def subclasses(cls: type) -> set[type]:
        return {cls} | {c for sub in cls.__subclasses__() for c in subclasses(sub)}

    codes = {error.code for error in subclasses(KbqaError)} | set(_HTTP_CODES.values())
    codes |= {"error", "interrupted", "internal"}  # a status without a code; jobs' own codes
    assert {"unauthorized", "forbidden", "too_large", "not_found"} <= codes
    assert [code for code in sorted(codes) if not has_message(f"errors.{code}")] == []
