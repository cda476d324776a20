"""Shared base of kbqa: settings, the small data types and the errors every stage uses.

This package imports no other kbqa package, so every stage may import it.
"""
