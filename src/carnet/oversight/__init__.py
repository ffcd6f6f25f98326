"""Oversight of collected data: locks, investigator signatures, the database lock and the audit
trail an inspector browses."""
