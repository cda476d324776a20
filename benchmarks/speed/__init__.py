"""``kbqa bench``: ingest, query and generation speed, each against what it is built on.

Every figure it reports is a ratio of two things measured in the same run, interleaved where
possible, because the machines it runs on are shared and their absolute speed drifts.
"""
