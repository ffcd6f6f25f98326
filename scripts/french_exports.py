"""French for the cut-offs and exports (interop app), merged into scripts/french.py's table.

Kept apart so that work on exports and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "%(file)s: %(count)s files from cut-off %(cutoff)s; manifest SHA-256 %(sha256)s.": "%(file)s : %(count)s fichiers du gel %(cutoff)s ; SHA-256 du manifeste %(sha256)s.",
    "%(study)s has no audit events yet: there is nothing to cut off.": "%(study)s n'a encore aucun événement d'audit : il n'y a rien à geler.",
    "A cut-off is the study's audit trail as it stands when it is named: every export made from it later holds the same data, byte for byte.": "Un gel de base est la piste d'audit de l'étude telle qu'elle est au moment où il est nommé : tout export fait plus tard à partir de lui contient les mêmes données, octet pour octet.",
    "An unblinded export needs an unblinded role in %(study)s (you are blinded).": "Un export en insu levé demande un rôle non aveugle dans %(study)s (vous êtes en aveugle).",
    "Audit event": "Événement d'audit",
    "CSV with SAS and R programs": "CSV avec programmes SAS et R",
    "Carnet export of %(study)s at cut-off %(cutoff)s (audit event #%(seq)s)": "Export Carnet de %(study)s au gel %(cutoff)s (événement d'audit n° %(seq)s)",
    "Cut-off": "Gel de base",
    "Cut-off %(name)s named.": "Gel de base %(name)s nommé.",
    "Cut-off %(name)s of %(study)s: audit event #%(seq)s, hash %(hash)s.": "Gel de base %(name)s de %(study)s : événement d'audit n° %(seq)s, empreinte %(hash)s.",
    "Cut-off date": "Date de gel",
    "Cut-offs and exports": "Gels de base et exports",
    "Cut-offs and exports of %(study)s": "Gels de base et exports de %(study)s",
    "Export": "Exporter",
    "Format": "Format",
    "Hash": "Empreinte",
    "Name a cut-off": "Nommer un gel de base",
    "Name the cut-off": "Nommer le gel",
    "Named by": "Nommé par",
    "No cut-off yet.": "Aucun gel de base pour l'instant.",
    "The zip is made while you wait; a large study may take a minute.": "Le zip est fait pendant que vous attendez ; une grande étude peut prendre une minute.",
    "Unblinded: include the arm and arm-revealing items": "Insu levé : inclure le bras et les items qui le révèlent",
    "cutoff: %(study)s has no cut-off named %(name)r (it has: %(names)s).": "gel : %(study)s n'a pas de gel de base nommé %(name)r (elle a : %(names)s).",
    "cutoff: this cut-off belongs to another study.": "gel : ce gel de base appartient à une autre étude.",
    "date: %(value)r is not a date (YYYY-MM-DD).": "date : %(value)r n'est pas une date (AAAA-MM-JJ).",
    "forms: %(forms)s: no such form in this export (it has %(known)s).": "formulaires : %(forms)s : pas de tel formulaire dans cet export (il a %(known)s).",
    "format: %(format)r is not one of %(formats)s.": "format : %(format)r n'est pas parmi %(formats)s.",
    "name: %(name)r is not a cut-off name (letters, digits, '.', '_' or '-', at most 64, starting with a letter or a digit).": "nom : %(name)r n'est pas un nom de gel (lettres, chiffres, « . », « _ » ou « - », 64 au plus, commençant par une lettre ou un chiffre).",
    "name: %(study)s already has a cut-off named %(name)s; a cut-off never changes.": "nom : %(study)s a déjà un gel de base nommé %(name)s ; un gel ne change jamais.",
    "reason: say why the data are cut off (an analysis, a DSMB…).": "motif : dites pourquoi les données sont gelées (une analyse, un DSMB…).",
}
