"""Carnet's date formats per language (Django's FORMAT_MODULE_PATH): one format a language.

Django's own would write "June 2, 2025" in English and "2 juin 2025" in French wherever a
template shows a date unformatted, next to the ISO dates that date fields take and that refusals
and exports write. Carnet writes ISO 8601 dates in both languages; a language that wants its own
changes its module here, and the `day` template filter and unformatted dates follow.
"""
