# ruff: noqa: E501  (one translation per line reads better than wrapped strings)
"""French for ODM imports through the API and the ODM import page, and the provenance kept of a
transactional file's audit records (merged into scripts/french.py's table).

Kept apart so that work on ODM and on other apps does not edit the same lines."""

from __future__ import annotations

FRENCH: dict[str, str | tuple[str, str]] = {
    "%(counter)s element not carried over": (
        "%(counter)s élément non repris",
        "%(counter)s éléments non repris",
    ),
    "%(records)s forms read, %(instances)s changed, %(values)s values changed, %(recomputed)s calculated values computed again, %(problems)s problem(s); %(history)s audit records of the source system kept as the import's provenance.": "%(records)s formulaires lus, %(instances)s modifiés, %(values)s valeurs modifiées, %(recomputed)s valeurs calculées recalculées, %(problems)s problème(s) ; %(history)s enregistrements d'audit du système source conservés comme provenance de l'import.",
    "%(records)s forms read: %(values)s values changed in %(forms)s forms; %(history)s audit records of the source system kept in the audit trail.": "%(records)s formulaires lus : %(values)s valeurs modifiées dans %(forms)s formulaires ; %(history)s enregistrements d'audit du système source conservés dans la piste d'audit.",
    "A CDISC ODM 1.3.2 file (snapshot or transactional). Each form of the file is validated, computed and checked as a save would be; a dry run lists every problem with its line and writes nothing; an import writes everything or nothing. A transactional file's final values are imported; its audit records are kept in the audit trail as the source system's history.": "Un fichier CDISC ODM 1.3.2 (instantané ou transactionnel). Chaque formulaire du fichier est validé, calculé et contrôlé comme lors d'un enregistrement ; un essai à blanc liste chaque problème avec sa ligne et n'écrit rien ; un import écrit tout ou rien. Les valeurs finales d'un fichier transactionnel sont importées ; ses enregistrements d'audit sont conservés dans la piste d'audit comme historique du système source.",
    "A study definition from an ODM file": "Une définition d'étude à partir d'un fichier ODM",
    "Choose an ODM file.": "Choisissez un fichier ODM.",
    "Clinical data into this study": "Données cliniques dans cette étude",
    "Dry run: %(records)s forms read; %(values)s values would change in %(forms)s forms; %(history)s audit records of the source system would be kept. Nothing was written.": "Essai à blanc : %(records)s formulaires lus ; %(values)s valeurs changeraient dans %(forms)s formulaires ; %(history)s enregistrements d'audit du système source seraient conservés. Rien n'a été écrit.",
    "Identifier of the new study (optional)": "Identifiant de la nouvelle étude (facultatif)",
    "Import a CDISC ODM 1.3.2 file instead": "Importer plutôt un fichier CDISC ODM 1.3.2",
    "Import an ODM file": "Importer un fichier ODM",
    "Line": "Ligne",
    "Make the study file": "Faire le fichier d'étude",
    "ODM file": "Fichier ODM",
    "Study file (YAML)": "Fichier d'étude (YAML)",
    "The file's metadata as a study file (YAML), with what could not be carried over, element by element. Nothing is loaded: check the file, then load it with carnet study validate and carnet study load.": "Les métadonnées du fichier en fichier d'étude (YAML), avec ce qui n'a pas pu être repris, élément par élément. Rien n'est chargé : vérifiez le fichier, puis chargez-le avec carnet study validate et carnet study load.",
    "The import has %(count)s problem(s); nothing was written.": "L'import a %(count)s problème(s) ; rien n'a été écrit.",
    "You may not turn ODM files into study definitions.": "Vous ne pouvez pas transformer de fichiers ODM en définitions d'étude.",
}
