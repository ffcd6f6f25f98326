"""What an inclusion writes into the casebook, so that nothing the wizard asks is typed twice.

The study file maps registration answers (sex, age, consent date, the eligibility answers…) to
casebook items (`registration:`, docs/study-format.md). This module turns one inclusion's answers
into the values of each casebook form, and hands them to the apps that write casebooks: subjects
sits below capture and cannot call its save pipeline, so capture registers an inclusion writer
(like `register_news_source`) that saves the values through the pipeline, inside the inclusion's
transaction: the subject and its first casebook values commit or fail together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from carnet.core.errors import CarnetError
from carnet.studies.definition.model import RegistrationTarget, StudyDefinition
from carnet.subjects.models import Sex, Subject


@dataclass(frozen=True)
class CasebookValues:
    """The values one casebook form receives at inclusion (item name -> value; dates as text)."""

    event: str
    form: str
    values: dict[str, Any]


class CasebookRefusal(CarnetError):
    """A writer refused values; ``errors`` maps each item name to why (as the save says it)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{item}: {why}" for item, why in errors.items()))
        self.errors = dict(errors)


# Writers get the actor who includes (a person, who may enter data since they may include).
InclusionWriter = Callable[[Any, Subject, list[CasebookValues]], None]
INCLUSION_WRITERS: list[InclusionWriter] = []


def register_inclusion_writer(writer: InclusionWriter) -> None:
    """Let an app write the registration values into the casebook (from its AppConfig.ready)."""
    if writer not in INCLUSION_WRITERS:
        INCLUSION_WRITERS.append(writer)


@dataclass(frozen=True)
class RegistrationAnswers:
    """The wizard's own questions, as the person answered them."""

    sex: str = ""
    age: int | None = None
    inclusion_date: date | None = None
    consent_date: date | None = None
    consent_version: str = ""
    biobank_consent: bool | None = None
    future_research_consent: bool | None = None


# The study file names the answers to "sex" in words (`codes: {male: 1, female: 2}`).
SEX_ANSWERS = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.UNKNOWN: "unknown"}


def _answer(target: RegistrationTarget, answers: RegistrationAnswers) -> Any:
    """Return what a question's item receives: the answer itself, or its code; None for none."""
    raw = getattr(answers, target.question)
    if target.question == "sex":
        raw = SEX_ANSWERS.get(raw, raw)
    if isinstance(raw, bool):
        raw = "yes" if raw else "no"
    if raw is None or raw == "":
        return None
    if target.codes:
        return target.code(str(raw))  # "unknown" without a code leaves the item empty
    if isinstance(raw, date):
        return raw.isoformat()
    return raw


def question_targets(definition: StudyDefinition) -> list[RegistrationTarget]:
    """Return the targets of the wizard's own questions (not the eligibility answers)."""
    return [target for target in definition.registration if "." not in target.question]


def eligibility_from_answers(
    definition: StudyDefinition, answers: RegistrationAnswers
) -> dict[str, Any]:
    """Return the eligibility values the wizard's questions already give, by reference.

    A criterion that reads ``screening.age`` where the study writes the age into
    ``screening.age`` takes the age asked once, not a second field.
    """
    values: dict[str, Any] = {}
    for target in question_targets(definition):
        value = _answer(target, answers)
        if value is not None:
            values[f"{target.event}.{target.item}"] = value
    return values


def answered_items(definition: StudyDefinition) -> set[str]:
    """Return the item names the wizard's own questions fill (asked once, not as items)."""
    return {target.item for target in question_targets(definition)}


def casebook_values(
    definition: StudyDefinition, answers: RegistrationAnswers, eligibility: Mapping[str, Any]
) -> list[CasebookValues]:
    """Return, form by form in file order, the casebook values an inclusion writes."""
    by_form: dict[tuple[str, str], dict[str, Any]] = {}
    for target in definition.registration:
        if "." in target.question:  # an eligibility answer, by reference or by item name
            value = eligibility.get(target.question, eligibility.get(target.item))
            if isinstance(value, date):
                value = value.isoformat()
        else:
            value = _answer(target, answers)
        if value is None or value in ("", []):
            continue  # nothing given: the casebook stays empty there
        by_form.setdefault((target.event, target.form), {})[target.item] = value
    return [CasebookValues(event, form, values) for (event, form), values in by_form.items()]


def registration_field(definition: StudyDefinition, item: str) -> str:
    """Return the inclusion's field that gave an item its value (what a refusal names)."""
    fields = {
        "sex": "sex",
        "age": "age",
        "inclusion_date": "included_on",
        "consent_date": "consent.consented_on",
        "consent_version": "consent.form_version",
        "biobank_consent": "consent.biobank",
        "future_research_consent": "consent.future_research",
    }
    for target in definition.registration:
        if target.item == item:
            return fields.get(target.question, f"eligibility.{target.item}")
    return f"eligibility.{item}"


def casebook_write(*, actor: Any, subject: Subject, writes: list[CasebookValues]) -> None:
    """Hand the inclusion's casebook values to every registered writer (none: nothing to do)."""
    if not writes:
        return
    for writer in INCLUSION_WRITERS:
        writer(actor, subject, writes)
