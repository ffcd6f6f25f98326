"""Test (UAT) and production data: which environment a study writes to, and which one a request
asked to read.

A study in test mode writes test data; in every other mode it writes production data (a study
never goes back from production to test). Reading test data once the study is in production is
an explicit request: the page's "test view" switch (kept in the session) or the API's
``?environment=test``. The web layer records that request here for the length of one request;
`carnet.subjects.selectors.environment_seen` is the one function that decides what an actor sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models

from carnet.studies.models import Study, StudyMode

# Stands for "every study" when the request names none (an API call with ?environment=test).
EVERY_STUDY = "*"
# The page switch: the study identifiers whose test data the person chose to look at.
SESSION_KEY = "carnet_test_view"


class Environment(models.TextChoices):
    """Data entered while the study is in test mode is kept apart from production data."""

    PRODUCTION = "production", "production"
    TEST = "test", "test"


_asked: ContextVar[frozenset[str]] = ContextVar("carnet_test_view", default=frozenset())


def environment_written(study: Study) -> str:
    """Return the environment a row created now in ``study`` belongs to (its mode decides)."""
    return Environment.TEST if study.mode == StudyMode.TEST else Environment.PRODUCTION


def test_view_asked(study: Study) -> bool:
    """Return whether the current request asked to read the study's test data."""
    asked = _asked.get()
    return EVERY_STUDY in asked or study.identifier in asked


@contextmanager
def test_view(*studies: str) -> Iterator[None]:
    """Read the test data of ``studies`` (identifiers; none: every study) inside the block."""
    token = _asked.set(frozenset(studies or (EVERY_STUDY,)))
    try:
        yield
    finally:
        _asked.reset(token)


def session_test_view(session_value: object) -> frozenset[str]:
    """Return the study identifiers a session's test view switch holds (junk holds none)."""
    if not isinstance(session_value, Iterable) or isinstance(session_value, str):
        return frozenset()
    return frozenset(value for value in session_value if isinstance(value, str))
