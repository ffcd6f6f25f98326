"""Biobank: the samples a protocol expects, collected with their pre-analytics, labelled,
stored, aliquoted, shipped and shared, always within the patient's consent."""
