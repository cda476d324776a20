"""kbqa: the service layer. ``kbqa.app.KBQA`` wires the stages; the ``kbqa`` command lives
above it, in ``cli/``."""

__version__ = "0.1.0"
