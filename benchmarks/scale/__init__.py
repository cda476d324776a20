"""The scale benchmark: synthetic corpora of up to millions of chunks (``kbqa bench scale``)."""
