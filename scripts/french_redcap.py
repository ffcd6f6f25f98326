# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the REDCap app and `carnet redcap` (merged into scripts/french.py's table).

Kept apart so that work on REDCap and on other apps does not edit the same lines. The REDCap
API's own error bodies stay in REDCap's English: PyCap and REDCapR scripts match on them."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "%(count)s records imported into %(study)s.": "%(count)s enregistrements importés dans %(study)s.",
    "%(file)s is larger than 512 MB.": "%(file)s dépasse 512 Mo.",
    "%(file)s: the data dictionary of %(study)s (%(count)s fields).": "%(file)s : le dictionnaire de données de %(study)s (%(count)s champs).",
    "%(file)s written: %(forms)s forms, %(events)s events; %(count)s things not carried over, %(errors)s errors (carnet study validate %(file)s).": "%(file)s écrit : %(forms)s formulaires, %(events)s visites ; %(count)s éléments non repris, %(errors)s erreurs (carnet study validate %(file)s).",
    "Cannot read %(file)s: %(error)s": "Impossible de lire %(file)s : %(error)s",
    "Cannot write %(file)s: %(error)s": "Impossible d'écrire %(file)s : %(error)s",
    "Give the reason for the audit trail (--reason).": "Indiquez la raison pour la piste d'audit (--reason).",
    "No published study %(study)s.": "Aucune étude publiée %(study)s.",
    "Not carried over: %(what)s": "Non repris : %(what)s",
    "%(count)s subjects included.": "%(count)s sujets inclus.",
    "%(study)s has no site %(site)s.": "%(study)s n'a pas de centre %(site)s.",
    "You do not have API Import/Update privileges": "Vous n'avez pas le droit d'importer ou de modifier des données par l'API",
}
