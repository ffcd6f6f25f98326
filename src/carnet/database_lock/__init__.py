"""The database lock: a live checklist, a lock signed in turn, a hashed snapshot at lock, and
a signed unlock."""
