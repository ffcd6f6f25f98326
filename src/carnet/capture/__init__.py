"""Data capture: form instances, item values, files, and the one save pipeline."""
