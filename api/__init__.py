"""The HTTP API: FastAPI over the KBQA service. ``create_app()`` builds it."""
