# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the centre's activity report (reports app, issue 23) (merged into
scripts/french.py's table).

Kept apart so that work on the reports and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "Activity report": "Rapport d'activité",
    "The centre's activity report": "Rapport d'activité du centre",
    "The centre's activity report, every year": "Rapport d'activité du centre, toutes années",
    "The centre's activity report, %(year)s": "Rapport d'activité du centre, %(year)s",
    "As a system administrator you count every study of the installation.": "En tant qu'administrateur du système, vous comptez toutes les études de l'installation.",
    "You count the studies and sites where your role allows it (sponsor, project manager, data manager, study administrator, statistician, investigator or monitor at their sites).": "Vous comptez les études et les sites où votre rôle le permet (promoteur, chef de projet, data manager, administrateur de l'étude, statisticien, investigateur ou moniteur pour leurs sites).",
    "Every year": "Toutes les années",
    "Count": "Compter",
    "Year %(year)s: %(studies)s study counted.": ("Année %(year)s : %(studies)s étude comptée.", "Année %(year)s : %(studies)s études comptées."),
    "Every year: %(studies)s study counted.": ("Toutes les années : %(studies)s étude comptée.", "Toutes les années : %(studies)s études comptées."),
    "Counted on %(day)s, production patients only; no arm is shown.": "Compté le %(day)s, patients de production uniquement ; aucun bras n'est montré.",
    "Summary per year": "Synthèse par année",
    "Year": "Année",
    "Trials open": "Essais ouverts",
    "Trials including": "Essais ayant inclus",
    "Patients included": "Patients inclus",
    "Patients randomised": "Patients randomisés",
    "No inclusion to count.": "Aucune inclusion à compter.",
    "Patients included and randomised per study, site and year": "Patients inclus et randomisés par étude, site et année",
    "Centre": "Centre",
    "Included": "Inclus",
    "Randomised": "Randomisés",
    "Queries and data completeness per study and site": "Queries et complétude des données par étude et site",
    "Queries raised during the year; forms expected of the patients included during the year.": "Queries émises pendant l'année ; formulaires attendus des patients inclus pendant l'année.",
    "Every query raised; forms expected of every patient.": "Toutes les queries émises ; formulaires attendus de tous les patients.",
    "A form is expected once its visit took place or its window closed; it is finished when complete or marked not done with a reason.": "Un formulaire est attendu dès que sa visite a eu lieu ou que sa fenêtre est close ; il est terminé lorsqu'il est complet ou déclaré non fait avec un motif.",
    "Open queries": "Queries ouvertes",
    "Answered queries": "Queries répondues",
    "Closed queries": "Queries clôturées",
    "Forms expected": "Formulaires attendus",
    "Forms finished": "Formulaires terminés",
    "Completeness": "Complétude",
    "No query and no form expected yet.": "Aucune query et aucun formulaire attendu pour l'instant.",
    "year: give a year such as 2026, or nothing for every year.": "year : indiquez une année, par exemple 2026, ou rien pour toutes les années.",
    "studies counted": "études comptées",
    "%(kind)s needs a STUDY and --cutoff NAME.": "%(kind)s demande une ÉTUDE et --cutoff NOM.",
    "activity counts every study: give no STUDY and no --cutoff.": "activity compte toutes les études : n'indiquez ni ÉTUDE ni --cutoff.",
    "Activity report written to %(file)s.": "Rapport d'activité écrit dans %(file)s.",
    "Samples collected": "Échantillons prélevés",
    "CSV": "CSV",
}
