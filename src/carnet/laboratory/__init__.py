"""Laboratory values: normal ranges per site or laboratory, unit conversion, L/H flags and
CTCAE v5 grades."""
