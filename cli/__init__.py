"""Command-line entry points (``s06 <command>``): demo, backfill, consumer, summary.

They sit beside the product, not inside it: nothing in ``config``, ``extractors``,
``transforms``, ``expectations``, ``loaders``, ``pipeline`` or ``dags`` imports them
(``tests/test_layout.py`` enforces it). Only the demo reaches into ``sample_data``.
"""
