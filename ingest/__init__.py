"""Ingest: files -> pages -> chunks, and into the index."""
