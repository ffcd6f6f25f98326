# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for whole-study re-checks (merged into scripts/french.py's table).

Kept apart so that work on re-checks and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "No study is called %(study)s.": "Aucune étude ne s'appelle %(study)s.",
    "Study %(study)s has no published version: nothing to check.": "L'étude %(study)s n'a pas de version publiée : rien à vérifier.",
    "Rule": "Règle",
    "Form": "Formulaire",
    "Firing": "Déclenchées",
    "Opened": "Ouverts",
    "Closed": "Fermés",
    "%(forms)d forms and %(values)d values checked in %(seconds).1f s: %(opened)d results opened, %(closed)d closed.": "%(forms)d formulaires et %(values)d valeurs vérifiés en %(seconds).1f s : %(opened)d résultats ouverts, %(closed)d fermés.",
    "Re-check the whole study": "Revérifier toute l'étude",
    "Every soft edit check is evaluated again over every form of the study: results that fire now are opened, those that no longer fire are closed. Running it twice changes nothing the second time.": "Chaque contrôle non bloquant est réévalué sur tous les formulaires de l'étude : les résultats qui se déclenchent sont ouverts, ceux qui ne se déclenchent plus sont fermés. Une seconde exécution ne change rien.",
    "Reason (for the audit trail)": "Motif (pour la piste d'audit)",
    "Re-check now": "Revérifier maintenant",
    "Re-check asked on %(day)s.": "Revérification demandée le %(day)s.",
    "Waiting for the worker.": "En attente du worker.",
    "Running.": "En cours.",
    "Done.": "Terminée.",
    "Failed.": "Échec.",
    "%(forms)s forms checked: %(opened)s check results opened, %(closed)s closed.": "%(forms)s formulaires vérifiés : %(opened)s résultats de contrôle ouverts, %(closed)s fermés.",
}
