# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the bulk import path and `carnet import` (merged into scripts/french.py's table).

Kept apart so that work on imports and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "subject identifier": "identifiant du sujet",
    "occurrence of a repeating event (default 1)": "occurrence d'une visite répétée (1 par défaut)",
    "instance of a repeating form (default 1)": "instance d'un formulaire répété (1 par défaut)",
    "row of the repeating group (from 1)": "ligne du groupe répété (à partir de 1)",
    "1 to complete the form": "1 pour terminer le formulaire",
    "event: %(events)s": "visite : %(events)s",
    "%(study)s has no form %(form)s.": "%(study)s n'a pas de formulaire %(form)s.",
    "required": "obligatoire",
    "%(file)s: %(study)s has no form %(form)s (name the file after the form).": "%(file)s : %(study)s n'a pas de formulaire %(form)s (nommez le fichier d'après le formulaire).",
    "%(file)s is empty.": "%(file)s est vide.",
    "this item is calculated or a file; it cannot be imported.": "cette variable est calculée ou un fichier ; elle ne peut pas être importée.",
    "this column appears twice.": "cette colonne apparaît deux fois.",
    "the column subject is required.": "la colonne subject est obligatoire.",
    "write 1 to complete the form, 0 or nothing not to.": "écrivez 1 pour terminer le formulaire, 0 ou rien sinon.",
    "or a missing-data code (%(codes)s)": "ou un code de donnée manquante (%(codes)s)",
    "%(file)s is larger than %(limit)s MB, the largest file an import reads.": "%(file)s dépasse %(limit)s Mo, la taille maximale d'un fichier importé.",
    "%(form)s has no item %(column)s.": "%(form)s n'a pas de variable %(column)s.",
    "no subject %(subject)s in this study (an import does not create subjects).": "aucun sujet %(subject)s dans cette étude (un import ne crée pas de sujets).",
    "this line repeats line %(line)s (same subject, event and form%(row)s).": "cette ligne répète la ligne %(line)s (même sujet, visite et formulaire%(row)s).",
    "name the event: %(events)s.": "indiquez la visite : %(events)s.",
    "the form is not collected at %(event)s (%(events)s).": "le formulaire n'est pas recueilli à %(event)s (%(events)s).",
    "%(value)s is not a number from 1.": "%(value)s n'est pas un nombre à partir de 1.",
    "another line of this form gives %(value)s.": "une autre ligne de ce formulaire donne %(value)s.",
    '%(file)s, line %(line)s: the file is neither UTF-8 nor Windows-1252 (byte 0x%(byte)02x); save it again as "CSV UTF-8".': "%(file)s, ligne %(line)s : le fichier n'est ni en UTF-8 ni en Windows-1252 (octet 0x%(byte)02x) ; enregistrez-le à nouveau en « CSV UTF-8 ».",
    "%(item)s is in a repeating group: give its row.": "%(item)s fait partie d'un groupe répété : indiquez sa ligne.",
    ", row %(row)s": ", ligne %(row)s",
    "The import has %(count)s problem(s); nothing was written: %(problems)s": "L'import comporte %(count)s problème(s) ; rien n'a été écrit : %(problems)s",
    "Say why you import these data: a reason is required.": "Dites pourquoi vous importez ces données : un motif est obligatoire.",
    "%(subject)s is not a subject of %(study)s.": "%(subject)s n'est pas un sujet de %(study)s.",
    "Dry run: %(records)d forms read, %(problems)d problem(s); %(values)d values would change in %(forms)d forms, %(checks)d soft checks would fire. Nothing was written (%(seconds).1f s).": "Essai à blanc : %(records)d formulaires lus, %(problems)d problème(s) ; %(values)d valeurs changeraient dans %(forms)d formulaires, %(checks)d contrôles non bloquants se déclencheraient. Rien n'a été écrit (%(seconds).1f s).",
    "%(records)d forms read: %(values)d values changed in %(forms)d forms, %(checks)d soft checks fire, %(events)d audit events (%(seconds).1f s).": "%(records)d formulaires lus : %(values)d valeurs modifiées dans %(forms)d formulaires, %(checks)d contrôles non bloquants déclenchés, %(events)d événements d'audit (%(seconds).1f s).",
    "Name the study and at least one CSV file.": "Indiquez l'étude et au moins un fichier CSV.",
    "Usage: carnet import template STUDY FORM": "Usage : carnet import template ÉTUDE FORMULAIRE",
    "%(count)s problem(s): nothing was written.": "%(count)s problème(s) : rien n'a été écrit.",
    "No file %(file)s.": "Aucun fichier %(file)s.",
    "You may not import data into this study.": "Vous ne pouvez pas importer de données dans cette étude.",
}
