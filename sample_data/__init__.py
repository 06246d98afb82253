"""Synthetic sample data for the Scheme 06 pipeline and the generator that makes it.

Everything under this package is synthetic: no real person, certificate or facility record.
See ``sample_data/README.md``.
"""
