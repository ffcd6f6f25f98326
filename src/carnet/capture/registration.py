"""Inclusion writes what the registration wizard asked into the casebook, through the save
pipeline: audited, with the study version, checked like any other entry."""

from __future__ import annotations

from typing import Any

from carnet.capture.services import FormErrors, form_save
from carnet.subjects.models import Subject
from carnet.subjects.registration import (
    CasebookRefusal,
    CasebookValues,
    register_inclusion_writer,
)


def inclusion_write(actor: Any, subject: Subject, writes: list[CasebookValues]) -> None:
    """Save each form's registration values (in progress: the site completes the form)."""
    for write in writes:
        try:
            form_save(
                actor=actor,
                subject=subject,
                event=write.event,
                form=write.form,
                base_version=None,  # a new subject: the form has never been saved
                values=write.values,
            )
        except FormErrors as error:
            raise CasebookRefusal(error.errors) from error


def register() -> None:
    register_inclusion_writer(inclusion_write)
