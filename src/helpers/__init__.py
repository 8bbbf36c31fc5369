"""Tuning Lab helpers: the plumbing shared by the notebooks."""
