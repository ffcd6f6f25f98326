# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the import settings (an import creating subjects) and the subjects it creates
(merged into scripts/french.py's table).

Kept apart so that work on the import and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "%(count)d subjects created.": "%(count)d sujets créés.",
    "%(identifier)s is already a subject of %(study)s.": "%(identifier)s est déjà un sujet de %(study)s.",
    "%(study)s has no site %(site)s.": "%(study)s n'a pas de site %(site)s.",
    "%(study)s is frozen or locked: no subject can be registered.": "%(study)s est gelée ou verrouillée : aucun sujet ne peut être enregistré.",
    "%(subject)s is not a subject of this study yet: give the site to register it at (%(sites)s).": "%(subject)s n'est pas encore un sujet de cette étude : donnez le site où l'enregistrer (%(sites)s).",
    "%(value)s is not a date (write it 2025-03-31).": "%(value)s n'est pas une date (écrivez-la 2025-03-31).",
    "An import creates the subjects its files name and the study does not know yet, at the site of their site column (and on the day of their included_on column, else today).": "Un import crée les sujets que ses fichiers nomment et que l'étude ne connaît pas encore, au site de leur colonne site (et au jour de leur colonne included_on, sinon aujourd'hui).",
    "An import may create subjects": "Un import peut créer des sujets",
    "An import refuses the subjects the study does not know yet.": "Un import refuse les sujets que l'étude ne connaît pas encore.",
    "Change": "Modifier",
    "Dry run: %(count)d subjects would be created.": "Essai à blanc : %(count)d sujets seraient créés.",
    "Import settings": "Réglages de l'import",
    "Import settings changed.": "Réglages de l'import modifiés.",
    "Say why the import settings change (kept in the audit trail).": "Dites pourquoi les réglages de l'import changent (conservé dans la piste d'audit).",
    "Usage: carnet import settings STUDY [--creates-subjects on|off --reason TEXT]": "Usage : carnet import settings ÉTUDE [--creates-subjects on|off --reason TEXTE]",
    "another line registers %(subject)s at site %(site)s.": "une autre ligne enregistre %(subject)s au site %(site)s.",
    "give the subject.": "donnez le sujet.",
    "you may not register subjects at site %(site)s.": "vous ne pouvez pas enregistrer de sujets au site %(site)s.",
    "It would create %(counter)s subject.": (
        "Il créerait %(counter)s sujet.",
        "Il créerait %(counter)s sujets.",
    ),
    "%(counter)s subject created.": ("%(counter)s sujet créé.", "%(counter)s sujets créés."),
}
