"""Page images over time and under hostile pages: the cache stays within its bound, and a page
that cannot be drawn is a 422 that says why, never a 500 or a stuck API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import ErrorBody
from api.schemas import DocumentList
from core.settings import Settings
from ingest.pages import PageRenderer
from tests.api.conftest import AUTH, REPORT, ingest, pdf, wait_ready
from tests.utils.draws import crashing_draw, greedy_draw, slow_draw

BOUND_MB = 0.1


def _cached(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "cache" / "pages").glob("*/*.png"))


@pytest.fixture
def small_cache(api_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = api_settings.model_copy(
        update={"api": api_settings.api.model_copy(update={"page_cache_mb": BOUND_MB})}
    )
    with TestClient(create_app(settings), headers=AUTH) as client:
        wait_ready(client)
        ingest(client, {"report.pdf": pdf(REPORT)})
        yield client, settings


def test_the_page_cache_keeps_within_its_bound_the_pages_used_last(
    small_cache: tuple[TestClient, Settings],
) -> None:
    client, settings = small_cache
    (doc,) = DocumentList.model_validate(client.get("/documents").json()).documents
    bound = BOUND_MB * 2**20
    first = f"/documents/{doc.id}/pages/1"
    shown = client.get(first, params={"width": 300}).content
    sizes = []
    for width in range(400, 2400, 100):  # 20 images, several times the bound together
        for page in (1, 2, 3):
            response = client.get(f"/documents/{doc.id}/pages/{page}", params={"width": width})
            assert response.status_code == 200
            sizes.append(len(response.content))
            cached = _cached(settings)
            assert sum(p.stat().st_size for p in cached) <= bound
            assert f"{page}-{width}.png" in {p.name for p in cached}  # the last one is kept
            # The first page, read again now and then, is used recently: it stays.
            time.sleep(0.002)  # file times a little apart, as requests are
            assert client.get(first, params={"width": 300}).content == shown
            time.sleep(0.002)
    assert sum(sizes) > 5 * bound
    names = {p.name for p in _cached(settings)}
    assert "1-300.png" in names
    assert "1-400.png" not in names  # used once, long ago: gone


@pytest.mark.parametrize(
    ("draw", "why"),
    [
        (slow_draw, "it took more than 1 s"),
        (crashing_draw, "the renderer stopped"),
        (greedy_draw, "it needs more than 512 MiB"),
    ],
)
def test_a_page_that_cannot_be_drawn_is_a_422_and_the_next_page_is_drawn(
    loaded: TestClient, draw: object, why: str
) -> None:
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    (doc,) = DocumentList.model_validate(loaded.get("/documents").json()).documents
    sources = service.source_files
    good = sources.renderer
    hostile = PageRenderer(timeout_s=1, memory_mb=512, draw=draw)  # type: ignore[arg-type]
    sources.renderer = hostile
    try:
        started = time.monotonic()
        response = loaded.get(f"/documents/{doc.id}/pages/2", params={"width": 500})
        assert time.monotonic() - started < 20
        assert response.status_code == 422, response.text
        error = ErrorBody.model_validate(response.json()).error
        assert error.code == "page_not_drawn"
        assert error.message.startswith("page 2 of 'report.pdf' could not be drawn: ")
        assert why in error.message
        assert not _cached(service.settings)  # a failure is not cached
        # The pool replaces its worker: the same renderer draws the next page that it can.
        hostile.draw = good.draw
        assert loaded.get(f"/documents/{doc.id}/pages/1").status_code == 200
    finally:
        sources.renderer = good
        hostile.close()


def test_a_page_pdfium_refuses_in_this_process_is_a_422(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests draw in the API's process (ingest.isolate off): a failure there says why too."""
    service = loaded.app.state.kbqa  # type: ignore[attr-defined]
    (doc,) = DocumentList.model_validate(loaded.get("/documents").json()).documents
    assert not service.source_files.renderer.isolate

    def broken(data: bytes, number: int, width: int, password: str | None) -> bytes:
        raise ValueError("a pattern of 10^9 cells")

    monkeypatch.setattr(service.source_files.renderer, "draw", broken)
    response = loaded.get(f"/documents/{doc.id}/pages/3")
    assert response.status_code == 422
    assert ErrorBody.model_validate(response.json()).error.message == (
        "page 3 of 'report.pdf' could not be drawn: ValueError: a pattern of 10^9 cells"
    )
