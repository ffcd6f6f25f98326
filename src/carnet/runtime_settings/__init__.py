"""Settings an administrator changes while Carnet runs: their definitions, values and changes.

A low part (just above audit): uploads and sign-in read these settings, so they live below the
apps that use them, not in `operations` (the commands at the top).
"""
