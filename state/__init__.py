"""State that is not the index: originals of uploaded files, and (next) conversations, jobs,
API keys and feedback. Each kind behind a small protocol with a ``local`` backend under
``data_dir`` and a shared one for several nodes, picked by ``KBQA_STATE__BACKEND``."""
