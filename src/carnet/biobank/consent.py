"""Consent gating: what the patient agreed to decides what may be done with their samples.

Carnet's consent record (subjects.Consent) carries the optional consents of the consent form:
storage in the biobank, future research, genetic analysis and sharing outside the centre; each
sample use needs:

| use                 | needs                                                     |
|---------------------|-----------------------------------------------------------|
| storage             | biobank                                                   |
| protocol_analysis   | a consent in force (the trial's own analyses)             |
| future_research     | biobank and future_research                               |
| genetic_analysis    | biobank and genetic_analysis                              |
| sharing             | biobank and sharing                                       |

A shipment to a research partner is a sharing outside the centre besides its own use, so it
needs both (future research and sharing, for instance).

The latest consent form signed governs; an optional consent once given and later taken back is
a withdrawal dated by the form that took it back; an objection to any further use of data
(subjects' `data_use` withdrawal) refuses every use. Every check here is set-wise: three queries
whatever the number of samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record_many
from carnet.biobank.models import (
    DispositionAction,
    Sample,
    SampleDisposition,
    SampleStatus,
    SampleUse,
)
from carnet.biobank.storage import positions_release
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Consent, Withdrawal
from carnet.subjects.statuses import WithdrawalKind

# The optional consents of Consent, in the consent form's words.
OPTIONAL_CONSENTS = {
    "biobank": gettext_lazy("storage of samples in the biobank (biobank_consent)"),
    "future_research": gettext_lazy("future research (future_research_consent)"),
    "genetic_analysis": gettext_lazy("genetic analysis (genetic_analysis_consent)"),
    "sharing": gettext_lazy("sharing samples outside the centre (sharing_consent)"),
}
CONSENTS_NEEDED: dict[str, tuple[str, ...]] = {
    SampleUse.STORAGE: ("biobank",),
    SampleUse.PROTOCOL_ANALYSIS: (),
    SampleUse.FUTURE_RESEARCH: ("biobank", "future_research"),
    SampleUse.GENETIC_ANALYSIS: ("biobank", "genetic_analysis"),
    SampleUse.SHARING: ("biobank", "sharing"),
}
USE_LABELS = {
    SampleUse.STORAGE: gettext_lazy("storage in the biobank"),
    SampleUse.PROTOCOL_ANALYSIS: gettext_lazy("the protocol's own analyses"),
    SampleUse.FUTURE_RESEARCH: gettext_lazy("future research"),
    SampleUse.GENETIC_ANALYSIS: gettext_lazy("genetic analysis"),
    SampleUse.SHARING: gettext_lazy("sharing outside the centre"),
}
# A sample in one of these is no longer anywhere a decision could reach.
GONE = frozenset({SampleStatus.DESTROYED, SampleStatus.RETURNED, SampleStatus.CONSUMED})


class SampleFacts(Protocol):
    """What the consent and MTA checks read of a sample: a Sample, or its plain values."""

    @property
    def pk(self) -> Any: ...
    @property
    def identifier(self) -> str: ...
    @property
    def subject_id(self) -> Any: ...
    @property
    def sample_type(self) -> str: ...


@dataclass
class ConsentState:
    """What one patient's consents and withdrawals allow today."""

    form_version: str = ""
    consented_on: date | None = None
    given: dict[str, bool] = field(default_factory=dict)
    # Optional consents given, then taken back: name -> the date of the form taking it back.
    withdrawn: dict[str, date] = field(default_factory=dict)
    objection_on: date | None = None  # data_use withdrawal

    def withdrawal_keys(self) -> list[tuple[str, date]]:
        """Return the withdrawals that concern samples: ("data_use"|consent name, date)."""
        keys = [(name, on) for name, on in sorted(self.withdrawn.items())]
        if self.objection_on is not None:
            keys.append((WithdrawalKind.DATA_USE.value, self.objection_on))
        return keys


def consent_states(subject_ids: Iterable[int]) -> dict[int, ConsentState]:
    """Return each subject's consent state (two queries for any number of subjects)."""
    ids = set(subject_ids)
    states = {pk: ConsentState() for pk in ids}
    # Plain tuples, not model instances: this runs for every sample of a 500-sample shipment.
    rows = (
        Consent.objects.filter(subject_id__in=ids)
        .order_by("subject_id", "consented_on", "pk")
        .values_list("subject_id", "consented_on", "form_version", *OPTIONAL_CONSENTS)
    )
    for subject_id, consented_on, form_version, *answers in rows:
        state = states[subject_id]
        for name, answer in zip(OPTIONAL_CONSENTS, answers, strict=True):
            now = bool(answer)
            if now:
                state.withdrawn.pop(name, None)  # given again: the withdrawal no longer holds
            elif state.given.get(name):
                state.withdrawn[name] = consented_on
            state.given[name] = now
        state.form_version = form_version
        state.consented_on = consented_on
    for subject_id, withdrawn_on in (
        Withdrawal.objects.filter(subject_id__in=ids, kind=WithdrawalKind.DATA_USE)
        .order_by("withdrawn_on")
        .values_list("subject_id", "withdrawn_on")
    ):
        state = states[subject_id]
        if state.objection_on is None:
            state.objection_on = withdrawn_on
    return states


def _refusal(identifier: str, state: ConsentState, use: str) -> str | None:
    if state.objection_on is not None:
        return _(
            "sample %(sample)s: the patient objected to any further use of their data and "
            "samples on %(date)s."
        ) % {"sample": identifier, "date": state.objection_on.isoformat()}
    if state.consented_on is None:
        return _("sample %(sample)s: the patient has no recorded consent.") % {"sample": identifier}
    for name in CONSENTS_NEEDED[use]:
        if state.given.get(name):
            continue
        if name in state.withdrawn:
            return _(
                "sample %(sample)s: not for %(use)s: the patient withdrew the optional consent "
                "to %(consent)s on %(date)s."
            ) % {
                "sample": identifier,
                "use": USE_LABELS[SampleUse(use)],
                "consent": OPTIONAL_CONSENTS[name],
                "date": state.withdrawn[name].isoformat(),
            }
        return _(
            "sample %(sample)s: not for %(use)s: the consent form %(version)s signed on "
            "%(date)s does not include the optional consent to %(consent)s."
        ) % {
            "sample": identifier,
            "use": USE_LABELS[SampleUse(use)],
            "version": state.form_version,
            "date": state.consented_on.isoformat(),
            "consent": OPTIONAL_CONSENTS[name],
        }
    return None


def use_refusals(samples: Iterable[SampleFacts], uses: Iterable[str]) -> dict[int, str]:
    """Return, per sample pk, why one of ``uses`` is outside the patient's consent (set-wise)."""
    samples = list(samples)
    uses = list(uses)
    for use in uses:
        if use not in CONSENTS_NEEDED:
            raise ValidationError(
                _("use: %(value)s is not one of %(values)s.")
                % {"value": use, "values": ", ".join(CONSENTS_NEEDED)}
            )
    states = consent_states(sample.subject_id for sample in samples)
    refusals: dict[int, str] = {}
    for sample in samples:
        for use in uses:
            refusal = _refusal(sample.identifier, states[sample.subject_id], use)
            if refusal:
                refusals[sample.pk] = refusal
                break
    return refusals


def sample_use_refusal(sample: Sample, use: str) -> str | None:
    """Return why the patient's consent does not cover ``use`` of the sample, or None."""
    return use_refusals([sample], [use]).get(sample.pk)


# --- withdrawals of consent for samples ----------------------------------------------------------


@dataclass(frozen=True)
class SampleToDispose:
    """A sample a withdrawal of consent concerns, with no decision recorded yet."""

    sample: Sample
    withdrawal: str  # "future_research:2026-03-01"
    what: str  # the withdrawal in words
    on: date
    may_keep: bool  # storage consent still holds: the protocol's analyses may keep it


def _withdrawal_words(name: str) -> str:
    if name == WithdrawalKind.DATA_USE:
        return _("objection to any further use of data and samples")
    return _("withdrawal of the optional consent to %(consent)s") % {
        "consent": OPTIONAL_CONSENTS[name]
    }


def samples_to_dispose(actor: User | None, study: Study) -> list[SampleToDispose]:
    """Return every sample a withdrawal of consent concerns and nobody decided about yet.

    The subject's samples and all their descendants, wherever they are (stored, in transit,
    at a partner); computed from the consents and withdrawals, so the list is there as soon as
    the withdrawal is recorded. Scoped to the sites where the actor manages samples.
    """
    environment = environment_written(study)
    samples = Sample.objects.filter(study=study, environment=environment).exclude(status__in=GONE)
    if actor is not None:
        scope = site_scope(actor, Action.MANAGE_SAMPLES, study=study)
        if scope.empty:
            raise PermissionDenied(_("You may not manage this study's samples."))
        if not scope.all_sites:
            samples = samples.filter(site_id__in=scope.site_ids)
    subject_ids = set(samples.values_list("subject_id", flat=True).distinct())
    states = consent_states(subject_ids)
    concerned = {pk: state for pk, state in states.items() if state.withdrawal_keys()}
    if not concerned:
        return []
    rows = list(
        samples.filter(subject_id__in=concerned)
        .select_related("subject", "site")
        .order_by("subject__identifier", "identifier")
    )
    # Descendants carry their patient; those whose subject link differs are reached by parent.
    frontier = {row.pk for row in rows}
    seen = set(frontier)
    while frontier:
        children = list(
            samples.filter(parent_id__in=frontier).exclude(pk__in=seen).select_related("subject")
        )
        patient = {row.pk: row.subject_id for row in rows}
        for child in children:
            if child.parent_id is not None:
                child.subject_id = patient.get(child.parent_id, child.subject_id)
        rows.extend(children)
        frontier = {child.pk for child in children}
        seen |= frontier
    decided = set(
        SampleDisposition.objects.filter(sample_id__in=seen).values_list("sample_id", "withdrawal")
    )
    result = []
    for sample in rows:
        state = concerned.get(sample.subject_id)
        if state is None:
            continue
        for name, on in state.withdrawal_keys():
            key = f"{name}:{on.isoformat()}"
            if (sample.pk, key) in decided:
                continue
            result.append(
                SampleToDispose(
                    sample=sample,
                    withdrawal=key,
                    what=_withdrawal_words(name),
                    on=on,
                    # Taking back a further use (research, genetics, sharing) leaves the
                    # storage for the protocol's analyses.
                    may_keep=name != "biobank"
                    and name != WithdrawalKind.DATA_USE
                    and bool(state.given.get("biobank"))
                    and state.objection_on is None,
                )
            )
            break  # one decision per sample settles it
    return result


@transaction.atomic
def sample_dispose(
    *, actor: Actor, study: Study, identifiers: Iterable[str], action: str, reason: str
) -> list[SampleDisposition]:
    """Record that samples a withdrawal concerns were destroyed, returned or kept (audited).

    Destroyed and returned samples change status; nothing is deleted. All or nothing.
    """
    if action not in DispositionAction.values:
        raise ValidationError(
            _("action: %(value)s is not one of %(values)s.")
            % {"value": action, "values": ", ".join(DispositionAction.values)}
        )
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("reason: say why (the withdrawal, the procedure followed)."))
    wanted = [identifier.strip() for identifier in identifiers if identifier.strip()]
    if not wanted:
        raise ValidationError(_("samples: choose at least one sample."))
    pending = {
        row.sample.identifier: row
        for row in samples_to_dispose(actor if isinstance(actor, User) else None, study)
    }
    unknown = [identifier for identifier in wanted if identifier not in pending]
    if unknown:
        raise ValidationError(
            _("samples: %(samples)s: no withdrawal of consent awaits a decision on them.")
            % {"samples": ", ".join(unknown)}
        )
    if action == DispositionAction.KEPT_FOR_PROTOCOL:
        refused = [identifier for identifier in wanted if not pending[identifier].may_keep]
        if refused:
            raise ValidationError(
                _(
                    "action: %(samples)s may not be kept: the patient's consent no longer "
                    "covers their storage."
                )
                % {"samples": ", ".join(refused)}
            )
    now = utc_now()
    by = actor.display_name() if isinstance(actor, User) else str(getattr(actor, "label", ""))
    status = {
        DispositionAction.DESTROYED: SampleStatus.DESTROYED,
        DispositionAction.RETURNED: SampleStatus.RETURNED,
    }.get(DispositionAction(action))
    dispositions = []
    entries = []
    for identifier in wanted:
        row = pending[identifier]
        dispositions.append(
            SampleDisposition(
                sample=row.sample,
                withdrawal=row.withdrawal,
                action=action,
                reason=reason,
                recorded_at=now,
                recorded_by=by,
            )
        )
        entries.append(
            AuditEntry(
                action=f"biobank.sample_{action}",
                target=row.sample,
                old={"status": row.sample.status},
                new={
                    "status": status or row.sample.status,
                    "withdrawal": row.withdrawal,
                    "action": action,
                },
                reason=reason,
            )
        )
    SampleDisposition.objects.bulk_create(dispositions)
    if status is not None:
        # A destroyed or returned tube leaves its box: its place frees, with the movement.
        positions_release(
            actor=actor,
            study=study,
            sample_pks=[pending[i].sample.pk for i in wanted],
            status=status,
            reason=reason,
        )
        Sample.objects.filter(pk__in=[pending[i].sample.pk for i in wanted]).update(
            status=status, updated_at=now
        )
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return dispositions
