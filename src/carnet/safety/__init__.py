"""Pharmacovigilance: serious adverse events noticed at the save, later SAE reports and clocks.

A capability above capture: it takes part in saves through capture's listener registry and
writes through messaging's outbox; nothing below imports it.
"""
