from __future__ import annotations

from fastapi.testclient import TestClient

from api.schemas import CollectionDeleted, CollectionList
from tests.api.conftest import ORCHARD, REPORT, error_of, ingest, pdf


def test_list_and_delete_collections(client: TestClient) -> None:
    ingest(client, {"report.pdf": pdf(REPORT)})
    ingest(client, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
    listed = CollectionList.model_validate(client.get("/collections").json())
    assert listed.default == "default"
    counts = {c.name: (c.documents, c.chunks > 0) for c in listed.collections}
    assert counts == {"default": (1, True), "farm": (1, True)}
    deleted = CollectionDeleted.model_validate(client.delete("/collections/farm").json())
    assert [d.filename for d in deleted.documents] == ["orchard.pdf"]
    names = [c["name"] for c in client.get("/collections").json()["collections"]]
    assert names == ["default"]
    body = {"query": "orchard apple", "collection": "farm"}
    assert client.post("/search", json=body).json()["hits"] == []
    missing = client.delete("/collections/farm")
    assert missing.status_code == 404
    assert "farm" in error_of(missing)["message"]


def test_a_deleted_collection_can_be_filled_again(client: TestClient) -> None:
    ingest(client, {"orchard.pdf": pdf(ORCHARD)}, collection="farm")
    client.delete("/collections/farm")
    ingest(client, {"report.pdf": pdf(REPORT)}, collection="farm")
    body = {"query": "reservoir engineer", "collection": "farm"}
    hits = client.post("/search", json=body).json()["hits"]
    assert {h["filename"] for h in hits} == {"report.pdf"}
