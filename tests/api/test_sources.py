"""See the source: the original file, where a passage sits on its page, the page as an image."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.schemas import DocumentList, SearchResponse
from core.settings import Settings
from core.text import CITATION_RE
from core.types import Answer, Document, Stage
from generation import fake
from generation.fake import _SOURCE
from ingest.pages import render_png
from retrieval.excerpts import GAP
from state.originals import LocalOriginals
from tests.api.conftest import AUTH, ORCHARD, REPORT, error_of, ingest, pdf, wait_ready
from tests.api.test_ask import sse
from tests.utils.boxes import letters, text_under
from tests.utils.pdfs import make_image_only_pdf


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _originals(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "originals").rglob("*") if len(p.name) == 64]


def test_the_original_comes_back_byte_for_byte_with_its_type_and_name(
    client: TestClient,
) -> None:
    data = pdf(REPORT)
    (job,) = ingest(client, {"Water report – 1887.pdf": data})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/file")
    assert response.status_code == 200, response.text
    assert _sha256(response.content) == _sha256(data) == job.document.id
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Water report _ 1887.pdf"')
    assert "filename*=UTF-8''Water%20report%20%E2%80%93%201887.pdf" in disposition


def test_a_text_file_comes_back_as_text(client: TestClient) -> None:
    data = b"Plain notes about the orchard.\n"
    (job,) = ingest(client, {"notes.txt": data})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/file")
    assert response.content == data
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_one_copy_for_two_collections_deleted_with_the_last_document(
    client: TestClient, api_settings: Settings
) -> None:
    data = pdf(ORCHARD)
    ingest(client, {"orchard.pdf": data})
    (job,) = ingest(client, {"orchard-copy.pdf": data}, collection="other")
    assert job.document is not None
    doc_id = job.document.id
    assert [p.name for p in _originals(api_settings)] == [doc_id]
    assert client.delete(f"/documents/{doc_id}").status_code == 200
    assert client.get(f"/documents/{doc_id}/file").status_code == 404  # gone from this one
    kept = client.get(f"/documents/{doc_id}/file", params={"collection": "other"})
    assert _sha256(kept.content) == doc_id
    assert "orchard-copy.pdf" in kept.headers["content-disposition"]
    assert client.delete("/collections/other").status_code == 200
    assert _originals(api_settings) == []


def test_a_document_indexed_before_originals_were_kept_gets_a_clear_404(
    api_settings: Settings,
) -> None:
    with TestClient(create_app(api_settings), headers=AUTH) as client:
        (job,) = ingest(client, {"report.pdf": pdf(REPORT)})
    assert job.document is not None
    doc = job.document
    # As an older kbqa left it: the index holds the document, no original was kept.
    shutil.rmtree(api_settings.data_dir / "originals")
    with TestClient(create_app(api_settings), headers=AUTH) as client:
        assert Document.model_validate(client.get(f"/documents/{doc.id}").json()) == doc
        response = client.get(f"/documents/{doc.id}/file")
        assert response.status_code == 404
        assert "was not kept" in error_of(response)["message"]
        assert "report.pdf" in error_of(response)["message"]
        missing = client.get(f"/documents/{'0' * 64}/file")
        assert missing.status_code == 404


QUESTION = "Who was the engineer in charge of the works?"


def _cited(client: TestClient, question: str = QUESTION) -> tuple[Answer, bytes]:
    answer = Answer.model_validate(client.post("/ask", json={"question": question}).json())
    (citation,) = answer.citations
    original = client.get(f"/documents/{citation.document_id}/file")
    assert original.status_code == 200
    return answer, original.content


def test_a_citations_boxes_hold_the_cited_passage(api_settings: Settings) -> None:
    """Read back through pdfium at the boxes' rectangles: the whole passage, nothing else."""
    settings = api_settings.model_copy(
        update={"retrieval": api_settings.retrieval.model_copy(update={"excerpt_sentences": 0})}
    )
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        ingest(client, {"report.pdf": pdf(REPORT)})
        answer, original = _cited(client)
    (citation,) = answer.citations
    assert citation.text == REPORT[1]  # the whole chunk: no excerpt
    assert len(citation.boxes) == 2  # its two printed lines
    assert {box.page for box in citation.boxes} == {citation.page} == {2}
    assert letters(text_under(original, citation.boxes)) == letters(citation.text)


def test_an_excerpts_boxes_hold_its_sentences(loaded: TestClient) -> None:
    """An excerpt's boxes are cut from its lines' where its sentences start and end."""
    answer, original = _cited(loaded)
    (citation,) = answer.citations
    assert citation.boxes
    under = letters(text_under(original, citation.boxes))
    for sentence in citation.text.split(GAP):
        assert letters(sentence) in under
    assert len(under) <= len(letters(citation.text)) + 4  # a character or two at each cut


def test_search_hits_carry_their_boxes(loaded: TestClient) -> None:
    hits = SearchResponse.model_validate(
        loaded.post("/search", json={"query": "reservoir dam"}).json()
    ).hits
    assert hits
    assert all(hit.chunk.boxes for hit in hits)


def test_a_page_comes_back_as_a_png_of_the_width_asked(
    loaded: TestClient, api_settings: Settings
) -> None:
    (doc,) = DocumentList.model_validate(loaded.get("/documents").json()).documents
    response = loaded.get(f"/documents/{doc.id}/pages/2", params={"width": 400})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.width == 400
    assert 500 < image.height < 600  # A4: 1.414 times as high as wide
    assert _ink(image, (0.1, 0.07, 0.8, 0.1)) > 0.05  # the passage's line is printed there
    assert _ink(image, (0.1, 0.5, 0.8, 0.6)) == 0  # the lower half of the page is blank
    cached = list((api_settings.data_dir / "cache" / "pages" / doc.id).iterdir())
    assert [p.name for p in cached] == ["2-400.png"]
    again = loaded.get(f"/documents/{doc.id}/pages/2", params={"width": 400})
    assert again.content == response.content
    loaded.delete(f"/documents/{doc.id}")
    assert not (api_settings.data_dir / "cache" / "pages" / doc.id).exists()


def _ink(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """The share of dark pixels in a part of the image given as fractions."""
    x0, y0, x1, y1 = box
    part = image.convert("L").crop(
        (int(x0 * image.width), int(y0 * image.height), int(x1 * image.width),
         int(y1 * image.height))
    )  # fmt: skip
    histogram = part.histogram()
    return sum(histogram[:128]) / sum(histogram)


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("pages/2", {"width": 99}, 422, "width"),
        ("pages/2", {"width": 2401}, 422, "width"),
        ("pages/2", {"width": "wide"}, 422, "width"),
        ("pages/0", {}, 422, "page"),
        ("pages/4", {}, 404, "has 3 pages, no page 4"),
    ],
)
def test_a_page_out_of_bounds_is_a_4xx_that_says_why(
    loaded: TestClient, path: str, params: dict, status: int, says: str
) -> None:
    (doc,) = DocumentList.model_validate(loaded.get("/documents").json()).documents
    response = loaded.get(f"/documents/{doc.id}/{path}", params=params)
    assert response.status_code == status
    assert says in json.dumps(error_of(response))


def test_a_file_without_pages_has_no_page_images(client: TestClient) -> None:
    (job,) = ingest(client, {"notes.txt": b"Plain notes about the orchard.\n"})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/pages/1")
    assert response.status_code == 422
    assert "no pages to show" in error_of(response)["message"]


def test_a_scanned_page_renders_too(tmp_path: Path) -> None:
    scan = make_image_only_pdf(tmp_path / "scan.pdf").read_bytes()
    image = Image.open(io.BytesIO(render_png(scan, 1, 300)))
    assert image.width == 300
    assert _ink(image, (0, 0, 1, 1)) > 0.01  # the scan's grey bars


def _cite_backwards(prompt: str) -> str:
    """A model that cites the last source before the first: "… [3] … [1]."."""
    sources = _SOURCE.findall(prompt)
    (last, text), (first, first_text) = sources[-1], sources[0]
    return f"{text.strip()} [{last}] {first_text.strip()} [{first}]"


def test_sources_are_numbered_from_1_in_order_of_mention_everywhere(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "quote_best_sentence", _cite_backwards)
    plain = Answer.model_validate(loaded.post("/ask", json={"question": QUESTION}).json())
    assert [c.n for c in plain.citations] == [1, 2]
    assert CITATION_RE.findall(plain.answer) == ["1", "2"]
    assert plain.citations[0].page != plain.citations[1].page
    events = sse(loaded.post("/ask", json={"question": QUESTION, "stream": True}).text)
    tokens = "".join(data["text"] for event, data in events if event == "token")
    assert tokens == plain.answer
    assert Answer.model_validate(events[-1][1]).citations == plain.citations
    body = {"model": "kbqa", "messages": [{"role": "user", "content": QUESTION}]}
    completion = loaded.post("/v1/chat/completions", json=body).json()
    content = completion["choices"][0]["message"]["content"]
    assert content.startswith(plain.answer)
    assert content.endswith("\n".join(c.label for c in plain.citations))
    assert [c["n"] for c in completion["citations"]] == [1, 2]


def test_a_file_that_cannot_be_kept_is_indexed_all_the_same(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalOriginals, "put", full)
    (job,) = ingest(client, {"report.pdf": pdf(REPORT)})
    assert job.document is not None
    response = client.get(f"/documents/{job.document.id}/file")
    assert response.status_code == 404
    assert "was not kept" in error_of(response)["message"]


def test_originals_follow_their_documents_through_many_uploads_and_deletes(
    client: TestClient, api_settings: Settings
) -> None:
    """Each content on disk exactly while some document in some collection has it."""
    files = {
        f"note-{i}.txt": f"Note {i}: the orchard's tree {i} bore fruit.\n".encode()
        for i in range(6)
    }
    live: dict[tuple[str, str], str] = {}  # (collection, document id) -> sha256
    for i, (name, data) in enumerate(files.items()):
        for collection in ("a", "b") if i % 2 else ("a",):
            (job,) = ingest(client, {name: data}, collection=collection)
            assert job.document is not None
            live[(collection, job.document.id)] = _sha256(data)
    assert {p.name for p in _originals(api_settings)} == set(live.values())
    for collection, doc_id in sorted(live):  # delete them one by one
        assert client.delete(f"/documents/{doc_id}", params={"collection": collection}).is_success
        del live[(collection, doc_id)]
        assert {p.name for p in _originals(api_settings)} == set(live.values())
    assert _originals(api_settings) == []


def test_a_streamed_answer_can_say_what_the_server_is_doing(loaded: TestClient) -> None:
    body = {"question": QUESTION, "stream": True, "stages": True}
    events = sse(loaded.post("/ask", json=body).text)
    kinds = [event for event, _ in events]
    assert kinds[:2] == ["stage", "stage"]
    assert kinds[2:] == ["token"] * (len(kinds) - 3) + ["answer"]
    searching, writing = (Stage.model_validate(data) for _, data in events[:2])
    assert searching == Stage(stage="searching", message="Searching the documents…")
    assert writing.stage == "writing"
    assert writing.message.startswith("Reading ")
    assert writing.message.endswith("from 1 document and writing the answer…")
    without = [event for event, _ in sse(loaded.post("/ask", json={**body, "stages": False}).text)]
    assert "stage" not in without


def test_with_stages_bad_input_is_still_an_http_error(loaded: TestClient) -> None:
    body = {"question": QUESTION, "stream": True, "stages": True, "conversation_id": "nope"}
    response = loaded.post("/ask", json=body)
    assert response.status_code == 404
    assert "nope" in error_of(response)["message"]
    empty = loaded.post("/ask", json={**body, "question": " ", "conversation_id": None})
    assert empty.status_code == 422


def test_originals_are_kept_by_a_shared_state_backend(
    api_settings: Settings, postgres_url: str
) -> None:
    """With KBQA_STATE__URL (PostgreSQL), the original is there for every node: in the
    database, not under this node's data_dir."""
    settings = api_settings.model_copy(
        update={"state": api_settings.state.model_copy(update={"url": postgres_url})}
    )
    data = pdf(REPORT)
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        (job,) = ingest(client, {"report.pdf": data})
        assert job.document is not None
        response = client.get(f"/documents/{job.document.id}/file")
        assert _sha256(response.content) == _sha256(data)
        assert _originals(settings) == []  # not in files here
        assert client.get(f"/documents/{job.document.id}/pages/1").status_code == 200
        client.delete(f"/documents/{job.document.id}")
        assert client.get(f"/documents/{job.document.id}/file").status_code == 404
