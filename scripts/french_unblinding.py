"""French for kits, allocation confirmations and unblinding (merged into scripts/french.py).

Kept apart so that work on randomisation and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "%(study)s: %(added)s kits added to the kit list.": "%(study)s : %(added)s kits ajoutés à la liste des kits.",
    "%(study)s: %(subject)s randomised (allocation %(number)s)": "%(study)s : %(subject)s randomisé (allocation %(number)s)",
    "%(study)s: site %(site)s has no kit left": "%(study)s : le centre %(site)s n'a plus de kit",
    "Allocation number: %(number)s": "Numéro d'allocation : %(number)s",
    "Arm: %(arm)s": "Bras : %(arm)s",
    "Kit number: %(kit)s": "Numéro de kit : %(kit)s",
    "Only unblinded roles may handle the kit list.": "Seuls les rôles en insu levé peuvent manipuler la liste des kits.",
    "Randomisation date: %(date)s": "Date de randomisation : %(date)s",
    "Subject: %(subject)s": "Patient : %(subject)s",
    "Subject %(subject)s of study %(study)s could not be randomised: site %(site)s has no kit left. Add kits to the site's kit list (carnet randomization kits), then the site can randomise again.": "Le patient %(subject)s de l'étude %(study)s n'a pas pu être randomisé : le centre %(site)s n'a plus de kit. Ajoutez des kits à la liste des kits du centre (carnet randomization kits) ; le centre pourra alors randomiser de nouveau.",
    "line 1: the columns %(columns)s are missing.": "ligne 1 : les colonnes %(columns)s manquent.",
    "the arm %(value)r is not an arm of the study.": "le bras %(value)r n'est pas un bras de l'étude.",
    "the file has no kit.": "le fichier ne contient aucun kit.",
    "the kit %(value)s is already in the list.": "le kit %(value)s est déjà dans la liste.",
    "the kit number is empty or longer than 40 characters.": "le numéro de kit est vide ou dépasse 40 caractères.",
    "the site %(value)r is not a site of the study.": "le centre %(value)r n'est pas un centre de l'étude.",
    "the site has no kit left; the data managers are told. Nothing was allocated.": "le centre n'a plus de kit ; les data managers sont prévenus. Rien n'a été alloué.",
    "%(by)s unblinded subject %(subject)s (allocation %(number)s) of study %(study)s in an emergency.": "%(by)s a levé l'aveugle du patient %(subject)s (allocation %(number)s) de l'étude %(study)s en urgence.",
    "%(identifier)s is already unblinded.": "L'aveugle de %(identifier)s est déjà levé.",
    "%(identifier)s is not randomised.": "%(identifier)s n'est pas randomisé.",
    "%(study)s: emergency unblinding of %(subject)s": "%(study)s : levée d'aveugle en urgence de %(subject)s",
    "I request the emergency unblinding of this subject.": "Je demande la levée d'aveugle en urgence de ce patient.",
    "Only an investigator of the subject's site may unblind it in an emergency.": "Seul un investigateur du centre du patient peut lever l'aveugle en urgence.",
    "Only the pharmacovigilance role may unblind a subject for a case.": "Seul le rôle de pharmacovigilance peut lever l'aveugle d'un patient pour un cas.",
    "Reason: %(reason)s": "Raison : %(reason)s",
    "confirm the unblinding a second time: it cannot be undone.": "confirmez une seconde fois la levée d'aveugle : elle est irréversible.",
    "give the reason for the unblinding.": "donnez la raison de la levée d'aveugle.",
    "give the reference of the pharmacovigilance case.": "donnez la référence du cas de pharmacovigilance.",
    "Kit number": "Numéro de kit",
    "Unblinded in an emergency.": "Aveugle levé en urgence.",
    "Unblinding": "Levée d'aveugle",
}
