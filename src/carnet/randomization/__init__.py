"""Randomisation: schemes, lists, minimisation, allocation (issue 17)."""
