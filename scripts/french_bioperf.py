# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the biobank's own consents (genetic analysis, sharing outside the centre) and the
storage positions in the LIMS exchange (merged into scripts/french.py's table).

Kept apart so that work on the biobank and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "%(value)s is not one box you may use (write it freezer/rack/box).": "%(value)s n'est pas une boîte unique que vous pouvez utiliser (écrivez-la congélateur/portoir/boîte).",
    "LIMS import": "Import du LIMS",
    "a %(status)s sample cannot be stored.": "un échantillon %(status)s ne peut pas être rangé.",
    "a place needs the freezer, rack and box.": "un emplacement demande le congélateur, le portoir et la boîte.",
    "box %(box)s is full (%(capacity)s positions).": "la boîte %(box)s est pleine (%(capacity)s positions).",
    "freezer %(freezer)s is out of service.": "le congélateur %(freezer)s est hors service.",
    "name the container (the box).": "nommez le contenant (la boîte).",
    "not a position in the box.": "pas une position de la boîte.",
    "position %(position)s of box %(box)s already holds a sample.": "la position %(position)s de la boîte %(box)s contient déjà un échantillon.",
    "sample %(sample)s is %(status)s: it cannot be stored.": "l'échantillon %(sample)s est %(status)s : il ne peut pas être rangé.",
    "there is no box %(box)s in rack %(rack)s of freezer %(freezer)s you may use.": "il n'y a pas de boîte %(box)s dans le portoir %(rack)s du congélateur %(freezer)s que vous pouvez utiliser.",
    "Consent to genetic analysis": "Consentement à l'analyse génétique",
    "Consent to sharing samples outside the centre": "Consentement au partage des échantillons hors du centre",
    "genetic analysis (genetic_analysis_consent)": "analyse génétique (genetic_analysis_consent)",
    "no genetic analysis": "pas d'analyse génétique",
    "no sharing outside the centre": "pas de partage hors du centre",
    "sharing samples outside the centre (sharing_consent)": "partage des échantillons hors du centre (sharing_consent)",
}
