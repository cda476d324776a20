"""kbqa: the application layer. ``kbqa.app.KBQA`` wires the stages; ``kbqa.cli`` is the command."""

__version__ = "0.1.0"
