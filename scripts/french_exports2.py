"""French for exports as background tasks, their options and filters (interop app), merged
into scripts/french.py's table.

Kept apart so that work on exports and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "Coded values": "Valeurs codées",
    "Codes (with value labels)": "Codes (avec libellés de valeurs)",
    "Download %(name)s": "Télécharger %(name)s",
    "Export %(number)s is %(status)s: download it once it is done.": "L'export %(number)s est à l'état %(status)s : téléchargez-le une fois terminé.",
    "Export %(number)s: cut-off %(cutoff)s, %(format)s, asked on %(day)s.": "Export %(number)s : gel %(cutoff)s, %(format)s, demandé le %(day)s.",
    "Export queued: the worker makes it, its progress is shown below.": "Export mis en file : le processus de fond le fabrique, son avancement s'affiche ci-dessous.",
    "Keep to some forms, events, sites or visit dates": "Se limiter à certains formulaires, événements, centres ou dates de visite",
    "Labels": "Libellés",
    "Manifest SHA-256": "SHA-256 du manifeste",
    "Running: %(done)s of %(total)s datasets written.": "En cours : %(done)s jeux de données écrits sur %(total)s.",
    "The worker makes the zip; its progress is shown below, then its download link.": "Le processus de fond fabrique le zip ; son avancement s'affiche ci-dessous, puis son lien de téléchargement.",
    "There is no export %(number)s of yours in %(study)s.": "Vous n'avez pas d'export %(number)s dans %(study)s.",
    "This export is not ready.": "Cet export n'est pas prêt.",
    "The SQLite reading process failed: %(said)s": "Le processus de lecture de SQLite a échoué : %(said)s",
    "Unblinded.": "Insu levé.",
    "Visits from": "Visites du",
    "Warehouse (Parquet by study, site and form)": "Entrepôt (Parquet par étude, centre et formulaire)",
    "Your exports": "Vos exports",
    "events: %(events)s: no such event in this study (it has %(known)s).": "événements : %(events)s : pas d'événement de ce nom dans cette étude (elle a %(known)s).",
    "since: %(since)s is after until (%(until)s).": "depuis : %(since)s est après la date de fin (%(until)s).",
    "to": "au",
}
