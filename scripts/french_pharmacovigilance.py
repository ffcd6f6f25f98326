"""French for the pharmacovigilance unblinding page and the PDF refusals (merged by french.py)."""

FRENCH: dict[str, str | tuple[str, str]] = {
    "Case": "Cas",
    "Case reference (e.g. the SUSAR's number)": "Référence du cas (par exemple le numéro de la SUSAR)",
    "Cases": "Cas",
    "For the assessment of a suspected unexpected serious adverse reaction: the arm is revealed to pharmacovigilance for this subject only; the study team stays blinded. The request is recorded and audited.": "Pour l'évaluation d'une suspicion d'effet indésirable grave et inattendu : le bras est révélé à la pharmacovigilance pour ce seul patient ; l'équipe de l'étude reste en aveugle. La demande est enregistrée et tracée.",
    "No PDF: WeasyPrint could not load the system's Pango library (%(cause)s); install %(packages)s. The report is written as HTML to %(file)s.": "Pas de PDF : WeasyPrint n'a pas pu charger la bibliothèque Pango du système (%(cause)s) ; installez %(packages)s. Le rapport est écrit en HTML dans %(file)s.",
    "Pharmacovigilance unblinding": "Levée d'aveugle de pharmacovigilance",
    "Pharmacovigilance unblinding of %(subject)s": "Levée d'aveugle de pharmacovigilance de %(subject)s",
    "Reveal the arm for this case": "Révéler le bras pour ce cas",
    "The request is recorded.": "La demande est enregistrée.",
    "This server cannot make PDFs: WeasyPrint could not load the system's Pango library (%(cause)s). Ask your administrator to install %(packages)s; the report below is the same as the PDF would be.": "Ce serveur ne peut pas produire de PDF : WeasyPrint n'a pas pu charger la bibliothèque Pango du système (%(cause)s). Demandez à votre administrateur d'installer %(packages)s ; le rapport ci-dessous est identique à ce que serait le PDF.",
    "This server cannot make PDFs: WeasyPrint could not load the system's Pango library (%(cause)s). Ask your administrator to install %(packages)s.": "Ce serveur ne peut pas produire de PDF : WeasyPrint n'a pas pu charger la bibliothèque Pango du système (%(cause)s). Demandez à votre administrateur d'installer %(packages)s.",
}
