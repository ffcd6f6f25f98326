"""The study's mode decides whether its captured data may change, and whose.

Data are entered in test and in production mode only: a study in design takes none yet, a
frozen or locked one none any more. In each mode only the patients of its own environment
change (test patients in test mode, the others in production). A guard of every write.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from carnet.capture.seams import SaveRefused, WriteContext, register_save_guard
from carnet.studies.models import Study, StudyMode
from carnet.subjects.services import environment_refusal


def study_entry_refusal(study: Study) -> str:
    """Return why the study takes no data now (design, frozen, locked), or "" when it does.

    What the form pages say above a form shown read-only: the same sentence a save gets.
    """
    if study.mode in (StudyMode.TEST, StudyMode.PRODUCTION):
        return ""
    words = {
        StudyMode.DESIGN: _(
            "%(study)s is still in design: no data can be entered before test or production."
        ),
        StudyMode.FROZEN: _("%(study)s is frozen: its data cannot change."),
        StudyMode.LOCKED: _("%(study)s is locked: its data cannot change."),
    }
    return words[StudyMode(study.mode)] % {"study": study.identifier}


def study_mode_guard(context: WriteContext) -> None:
    """Refuse a write the study's mode does not allow, or to a patient of the other mode."""
    refusal = study_entry_refusal(context.subject.study)
    if refusal:
        raise SaveRefused(refusal, place="study")
    # A test patient once the study is in production, or a patient included before test mode.
    refusal = environment_refusal(context.subject) or ""
    if refusal:
        raise SaveRefused(refusal, place="subject")


def register() -> None:
    register_save_guard(study_mode_guard)
