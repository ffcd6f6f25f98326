"""Medical coding: MedDRA and WHODrug dictionaries loaded from the user's licensed files, and
the coding of adverse events, medical history and medications against them."""
