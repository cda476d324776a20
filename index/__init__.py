"""The index: documents and chunks in SQLite (the source of truth), vectors in FAISS, BM25."""
