"""French for the randomisation app's messages (merged into scripts/french.py's table).

Kept apart so that work on randomisation and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "No study %(study)s.": "Aucune étude %(study)s.",
    "Cannot read %(file)s: %(error)s": "Impossible de lire %(file)s : %(error)s",
    "%(study)s (%(environment)s): %(added)s entries added, %(entries)s in the list; entries SHA-256 %(sha256)s.": "%(study)s (%(environment)s) : %(added)s entrées ajoutées, %(entries)s dans la liste ; SHA-256 des entrées %(sha256)s.",
    "%(study)s has no published version.": "%(study)s n'a pas de version publiée.",
    "%(study)s declares no randomisation scheme.": "%(study)s ne déclare aucun schéma de randomisation.",
    "%(study)s allocates by %(method)s: it has no list.": "%(study)s alloue par %(method)s : elle n'a pas de liste.",
    "give at least one entry per stratum.": "donnez au moins une entrée par strate.",
    "this study's list was imported: extend it by importing more entries.": "la liste de cette étude a été importée : étendez-la en important d'autres entrées.",
    "the list exists: it is extended from its own seed, give none.": "la liste existe : elle est étendue à partir de sa propre graine, n'en donnez pas.",
    "the list already has %(count)s entries per stratum; a list is only extended.": "la liste a déjà %(count)s entrées par strate ; une liste ne peut qu'être étendue.",
    "line %(line)s: %(why)s": "ligne %(line)s : %(why)s",
    "%(column)s %(value)r is not a whole number from 1.": "%(column)s %(value)r n'est pas un nombre entier à partir de 1.",
    "the file is not UTF-8 text.": "le fichier n'est pas un texte UTF-8.",
    "missing columns: %(columns)s.": "colonnes manquantes : %(columns)s.",
    "%(factor)s %(value)r is not a level of the stratum (%(levels)s).": "%(factor)s %(value)r n'est pas une modalité de la strate (%(levels)s).",
    "the arm %(value)r is not one of %(arms)s.": "le bras %(value)r n'est pas parmi %(arms)s.",
    "the file has no entries.": "le fichier n'a aucune entrée.",
    "%(stratum)s #%(sequence)s is already in the list with another content; a list is only extended, never edited.": "%(stratum)s n° %(sequence)s est déjà dans la liste avec un autre contenu ; une liste est seulement étendue, jamais modifiée.",
    "sequence %(sequence)s in %(stratum)s: the next one expected is %(want)s.": "séquence %(sequence)s dans %(stratum)s : la suivante attendue est %(want)s.",
    "the file's checksum is %(digest)s, not the one given: it is not the file meant.": "l'empreinte du fichier est %(digest)s, pas celle donnée : ce n'est pas le fichier attendu.",
    "this study's list was generated in Carnet: extend it by generating.": "la liste de cette étude a été générée dans Carnet : étendez-la en la générant.",
    "the study is not open to randomisation (mode %(mode)s).": "l'étude n'est pas ouverte à la randomisation (mode %(mode)s).",
    "%(identifier)s awaits the central eligibility review: only an eligible subject is randomised.": "%(identifier)s attend la revue centrale d'éligibilité : seul un sujet éligible est randomisé.",
    "%(identifier)s is not eligible.": "%(identifier)s n'est pas éligible.",
    "%(identifier)s has withdrawn consent.": "%(identifier)s a retiré son consentement.",
    "%(identifier)s is no longer in the study (%(status)s).": "%(identifier)s n'est plus dans l'étude (%(status)s).",
    "%(identifier)s has no signed consent recorded.": "%(identifier)s n'a aucun consentement signé enregistré.",
    "%(identifier)s is already randomised.": "%(identifier)s est déjà randomisé.",
    "enter %(factors)s in the casebook first: the randomisation reads it from there.": "saisissez d'abord %(factors)s dans le cahier d'observation : la randomisation le lit là.",
    "the factor values changed since they were shown; check them and confirm again.": "les valeurs des facteurs ont changé depuis leur affichage ; vérifiez-les et confirmez à nouveau.",
    "%(study)s: the randomisation list is exhausted (%(stratum)s)": "%(study)s : la liste de randomisation est épuisée (%(stratum)s)",
    "Subject %(subject)s of study %(study)s could not be randomised: the list has no entry left in the stratum %(stratum)s. Extend the list (carnet randomization generate or import), then the site can randomise again.": "Le sujet %(subject)s de l'étude %(study)s n'a pas pu être randomisé : la liste n'a plus d'entrée dans la strate %(stratum)s. Étendez la liste (carnet randomization generate ou import), puis le centre pourra randomiser à nouveau.",
    "Test data: the study is in test mode.": "Données de test : l'étude est en mode test.",
    "the randomisation list has no entry left for this subject's stratum; the data managers are told. Nothing was allocated.": "la liste de randomisation n'a plus d'entrée pour la strate de ce sujet ; les data managers sont prévenus. Rien n'a été alloué.",
    "%(identifier)s was already randomised on %(date)s.": "%(identifier)s a déjà été randomisé le %(date)s.",
}
