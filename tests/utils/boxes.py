"""Read back what is printed under boxes (``ingest.boxes``, re-exported for the tests)."""

from __future__ import annotations

from ingest.boxes import letters, text_under

__all__ = ["letters", "text_under"]
