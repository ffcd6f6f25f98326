"""Database helpers below every app: what the hot paths need from Django's connection layer.

`core/` holds the Django-free helpers; what needs the ORM or a connection lives here.
"""
