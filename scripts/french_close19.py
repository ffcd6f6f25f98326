# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for the close of issue 19: the coordinating investigator's role, the study's
unblinding after its database lock, and the download of a lock's archived snapshot (merged into
scripts/french.py's table).

Kept apart so that this work and other apps' do not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "Coordinating investigator": "Investigateur coordonnateur",
    "I authorise the unblinding of this study.": "J'autorise la levée de l'aveugle de cette étude.",
    "Only the sponsor or a data manager of the whole study may unblind %(study)s.": "Seul le promoteur ou un data manager de toute l'étude peut lever l'aveugle de %(study)s.",
    "%(study)s is already unblinded; nothing was signed.": "L'aveugle de %(study)s est déjà levé ; rien n'a été signé.",
    "%(name)s has no archived snapshot: it never completed.": "%(name)s n'a pas d'instantané archivé : ce gel n'a jamais abouti.",
    "The archived snapshot of %(name)s is missing or differs from the SHA-256 recorded at lock; it is not served. Restore it from the backups.": "L'instantané archivé de %(name)s est absent ou diffère du SHA-256 enregistré au gel ; il n'est pas servi. Restaurez-le depuis les sauvegardes.",
    "You may not download the archived snapshots of %(study)s.": "Vous ne pouvez pas télécharger les instantanés archivés de %(study)s.",
    "The study is unblinded: its people now see the arms.": "L'aveugle de l'étude est levé : ses intervenants voient désormais les bras.",
    "Download the snapshot (%(name)s)": "Télécharger l'instantané (%(name)s)",
    "Download its hashes (sha256sum)": "Télécharger ses empreintes (sha256sum)",
    "The snapshot holds every value, the arms included; it is checked against the SHA-256 above before it is served.": "L'instantané contient toutes les valeurs, bras compris ; il est vérifié par rapport au SHA-256 ci-dessus avant d'être servi.",
    "The study is unblinded (%(when)s)": "L'étude est levée d'aveugle (%(when)s)",
    "Authorised and signed by %(who)s, after %(basis)s.": "Autorisée et signée par %(who)s, après %(basis)s.",
    "Every person of the study now sees the arms. A later unlock does not restore the blind.": "Chaque intervenant de l'étude voit désormais les bras. Un dégel ultérieur ne rétablit pas l'aveugle.",
    "Unblind the study": "Lever l'aveugle de l'étude",
    "The database is locked: the blind of the whole study may end, for the final analysis. From then on every person of the study sees the arms; it cannot be undone. It is signed, with a reason.": "La base est gelée : l'aveugle de toute l'étude peut être levé, pour l'analyse finale. Dès lors chaque intervenant de l'étude voit les bras ; c'est irréversible. La levée est signée, avec une raison.",
    "Sign and unblind the study": "Signer et lever l'aveugle de l'étude",
    "Lifting the database lock lets data change again. The study stays unblinded: its people keep seeing the arms while data change. It is signed, with a reason.": "Lever le gel de la base permet de nouveau de modifier les données. L'étude reste levée d'aveugle : ses intervenants continuent de voir les bras pendant que les données changent. Le dégel est signé, avec une raison.",
    "snapshot": "instantané",
}
