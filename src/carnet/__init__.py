"""Carnet: a clinical research data platform for cancer centres' data centres."""

__version__ = "0.1.0"
