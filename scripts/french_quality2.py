# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the query settings page and the whole-study re-check's refusal (merged into
scripts/french.py's table)."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "Query settings": "Paramètres des requêtes",
    "How the queries of %(study)s are closed and how the sites hear of them. Every change is recorded in the audit trail.": "Comment les requêtes de %(study)s sont fermées et comment les centres en sont informés. Chaque modification est enregistrée dans la piste d'audit.",
    "A correction that clears a check closes its automatic query (untick: a person must close it)": "Une correction qui lève un contrôle ferme sa requête automatique (décochez : une personne doit la fermer)",
    "Only the person who raised a manual query may close it": "Seule la personne qui a émis une requête manuelle peut la fermer",
    "Sites receive a daily digest of their open queries": "Les centres reçoivent chaque jour un récapitulatif de leurs requêtes ouvertes",
    "Query settings saved.": "Paramètres des requêtes enregistrés.",
    "Only a data manager of the whole study may re-check it: it opens and closes queries at every site.": "Seul un data manager de toute l'étude peut la re-vérifier : la re-vérification ouvre et ferme des requêtes dans tous les centres.",
}
