"""French for the randomisation proof, report and outage messages (merged into scripts/french.py).

Kept apart so that work on the proof and on other randomisation features does not edit the same
lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "allocation %(number)s (%(environment)s, %(subject)s)": "allocation %(number)s (%(environment)s, %(subject)s)",
    "list of scheme %(scheme)s (%(environment)s)": "liste du schéma %(scheme)s (%(environment)s)",
    "entry %(stratum)s #%(sequence)s is not the one its seed generates.": "l'entrée %(stratum)s n° %(sequence)s n'est pas celle que génère sa graine.",
    "the entries do not hash as the last import recorded.": "l'empreinte des entrées n'est pas celle enregistrée au dernier import.",
    "the %(field)s in the database differs from the audit trail.": "%(field)s dans la base diffère de la piste d'audit.",
    "scheme %(number)s": "schéma %(number)s",
    "its definition does not match its recorded hash.": "sa définition ne correspond pas à son empreinte enregistrée.",
    "no allocation is recorded in the audit trail.": "aucune allocation n'est enregistrée dans la piste d'audit.",
    "the replayed arm differs from the arm recorded.": "le bras rejoué diffère du bras enregistré.",
    "the arm differs from its list entry's.": "le bras diffère de celui de son entrée de liste.",
    "audit event of allocation id %(id)s": "événement d'audit de l'allocation id %(id)s",
    "the allocation it records is missing from the database.": "l'allocation qu'il enregistre manque dans la base.",
    "the stratum recorded is not the one of its factor levels.": "la strate enregistrée n'est pas celle de ses modalités de facteurs.",
    "its list entry is missing.": "son entrée de liste manque.",
    "the list entry used is not the next one of its stratum (expected #%(n)s).": "l'entrée de liste utilisée n'est pas la suivante de sa strate (attendue : n° %(n)s).",
    "no random draw is recorded.": "aucun tirage aléatoire n'est enregistré.",
    "the minimisation scores differ from the replay.": "les scores de minimisation diffèrent de ceux du rejeu.",
    "%(study)s: %(differences)s differences in %(allocations)s allocations and %(entries)s list entries.": "%(study)s : %(differences)s différences dans %(allocations)s allocations et %(entries)s entrées de liste.",
    "%(study)s: %(allocations)s allocations replayed and %(entries)s list entries checked; no difference.": "%(study)s : %(allocations)s allocations rejouées et %(entries)s entrées de liste vérifiées ; aucune différence.",
    "%(study)s: randomisation report written to %(file)s.": "%(study)s : rapport de randomisation écrit dans %(file)s.",
    "All subjects": "Tous les sujets",
    "Allocated": "Alloués",
    "Allocations": "Allocations",
    "Balance": "Équilibre",
    "Blinded report: no arm is shown.": "Rapport en aveugle : aucun bras n'est montré.",
    "By": "Par",
    "Cannot write %(file)s: %(error)s": "Impossible d'écrire %(file)s : %(error)s",
    "Channel": "Canal",
    "Definition SHA-256": "SHA-256 de la définition",
    "Download the PDF": "Télécharger le PDF",
    "Entries": "Entrées",
    "Entries SHA-256": "SHA-256 des entrées",
    "Environment %(environment)s; made at %(when)s UTC.": "Environnement %(environment)s ; établi le %(when)s UTC.",
    "Factors": "Facteurs",
    "File SHA-256": "SHA-256 du fichier",
    "Group": "Groupe",
    "Lists": "Listes",
    "Method": "Méthode",
    "No list: this scheme allocates without one.": "Aucune liste : ce schéma alloue sans liste.",
    "No scheme recorded yet.": "Aucun schéma enregistré pour l'instant.",
    "Number": "Numéro",
    "Randomisation report": "Rapport de randomisation",
    "Randomisation report of %(study)s": "Rapport de randomisation de %(study)s",
    "Scheme": "Schéma",
    "Schemes": "Schémas",
    "Site %(site)s": "Centre %(site)s",
    "Source": "Source",
    "Stratum %(stratum)s": "Strate %(stratum)s",
    "Unblinded report: it shows each subject's arm.": "Rapport en ouvert : il montre le bras de chaque sujet.",
    "Used": "Utilisées",
}

# pgettext: context -> English -> French.
FRENCH_IN_CONTEXT: dict[str, dict[str, str]] = {
    # The field named in "the %(field)s in the database differs from the audit trail."
    "field differing": {
        "arm": "le bras",
        "factor levels": "les modalités des facteurs",
        "random draw": "le tirage aléatoire",
        "allocation number": "le numéro d'allocation",
        "stratum": "la strate",
        "list entry": "l'entrée de liste",
    },
}
