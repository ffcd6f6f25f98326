# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the biobank's own consents (genetic analysis, sharing outside the centre) and the
storage positions in the LIMS exchange (merged into scripts/french.py's table).

Kept apart so that work on the biobank and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "Consent to genetic analysis": "Consentement à l'analyse génétique",
    "Consent to sharing samples outside the centre": "Consentement au partage des échantillons hors du centre",
    "genetic analysis (genetic_analysis_consent)": "analyse génétique (genetic_analysis_consent)",
    "no genetic analysis": "pas d'analyse génétique",
    "no sharing outside the centre": "pas de partage hors du centre",
    "sharing samples outside the centre (sharing_consent)": "partage des échantillons hors du centre (sharing_consent)",
}
