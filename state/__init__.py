"""State that is not the index: conversations, ingestion jobs with their uploads, API keys made
at run time, feedback on answers, and originals of uploaded files. Each kind behind a small
protocol with a ``local`` backend under ``data_dir`` (one node) and a ``postgres`` one that
several nodes share, picked by ``KBQA_STATE__URL`` (``state.backend``; docs/nodes.md)."""
