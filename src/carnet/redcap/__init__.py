"""REDCap compatibility: data dictionaries in and out, and an API that PyCap and REDCapR
use unchanged."""
