"""CDISC ODM 1.3.2: export of a study at a cut-off, import of metadata and clinical data."""
