"""Subjects: screening log, inclusion, eligibility, consent, statuses, identity vault, schedule."""
