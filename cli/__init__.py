"""The ``kbqa`` command: the top floor, beside ``api/`` and ``ui/``. It starts the API and the
UI, runs the evaluation and (from a source checkout) the benchmarks, and calls the service for
everything else; nothing below imports it."""
