"""The benchmarks' two consoles: what goes wrong on stderr, the reports on stdout."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)
