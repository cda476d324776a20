from __future__ import annotations

import os
from pathlib import Path

from kbqa.sources import PageCache


def _age(cache: PageCache, document_id: str, page: int, width: int, seconds: int) -> None:
    path = cache.root / document_id / f"{page}-{width}.png"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 10**9))


def test_the_least_recently_used_images_go_first(tmp_path: Path) -> None:
    cache = PageCache(tmp_path, max_bytes=300)
    for page in (1, 2, 3):
        cache.put("doc", page, 500, bytes(100))
        _age(cache, "doc", page, 500, 10 - page)  # 1 the oldest, 3 the newest
    assert cache.get("doc", 1, 500) == bytes(100)  # read: now the newest
    cache.put("other", 1, 500, bytes(100))
    assert cache.get("doc", 2, 500) is None
    assert [cache.get("doc", n, 500) is not None for n in (1, 3)] == [True, True]
    assert sum(stat.st_size for stat in cache.files()) == 300


def test_an_image_larger_than_the_cache_is_not_kept(tmp_path: Path) -> None:
    cache = PageCache(tmp_path, max_bytes=300)
    cache.put("doc", 1, 500, bytes(100))
    cache.put("doc", 2, 2400, bytes(301))
    assert cache.get("doc", 2, 2400) is None
    assert cache.get("doc", 1, 500) == bytes(100)  # and it evicted nothing


def test_a_documents_images_are_dropped_with_it(tmp_path: Path) -> None:
    cache = PageCache(tmp_path, max_bytes=1000)
    cache.put("doc", 1, 500, b"png")
    cache.put("keep", 1, 500, b"png")
    cache.drop("doc")
    assert (cache.get("doc", 1, 500), cache.get("keep", 1, 500)) == (None, b"png")
