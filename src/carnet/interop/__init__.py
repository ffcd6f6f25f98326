"""Data leaving Carnet: named cut-offs, per-form analysis datasets and their formats, the
warehouse layout, ODM and REDCap."""
