"""Statistics in the product: the study design calculator, and the reports built on
`carnet.analysis`."""
