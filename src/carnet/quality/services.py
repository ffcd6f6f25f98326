"""Writes of the query workflow: raise, answer, close, re-open, cancel, confirm correct.

Who may do what: the site answers (and confirms a questioned value correct); monitors, data
managers and medical reviewers raise; the raiser or a data manager closes, re-opens and cancels
(a study may reserve closing a manual query to its raiser). Every change is one audit event on
the study's chain with the actor and the reason, and one message of the query's thread.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor, AuditEntry, SystemActor, audit_record_many
from carnet.capture.models import FormInstance
from carnet.capture.rules import study_rules
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.quality.automatic import fingerprint_of, query_settings_of
from carnet.quality.models import (
    ACTIVE_STATES,
    CheckAcknowledgement,
    DataReview,
    MessageKind,
    Query,
    QueryKind,
    QueryMessage,
    QueryScope,
    QuerySettings,
    QueryState,
    Resolution,
)
from carnet.studies.models import Study
from carnet.subjects.models import Subject

TEXT_LENGTH = 4000


def _text(text: str, *, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValidationError(_("Say %(what)s.") % {"what": what})
    if len(cleaned) > TEXT_LENGTH:
        raise ValidationError(_("At most %(count)d characters, please.") % {"count": TEXT_LENGTH})
    return cleaned


def _label(actor: User) -> str:
    return f"{actor.get_username()} ({actor.full_name})" if actor.full_name else actor.username


def _record(
    query: Query,
    *,
    actor: User,
    kind: str,
    text: str,
    old_state: str,
    action: str,
    new: dict[str, Any] | None = None,
) -> None:
    """Write the thread's message and the audit event of one change of a query."""
    now = utc_now()
    QueryMessage.objects.create(
        query=query,
        kind=kind,
        text=text,
        author=actor,
        author_label=_label(actor),
        state=query.state,
        created_at=now,
    )
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action=action,
                target=query,
                old={"state": old_state} if old_state else None,
                new={"state": query.state, **(new or {})},
                reason=text,
            )
        ],
        chain=query.study.audit_chain,
    )


def _locked(query: Query) -> Query:
    """Return the query read again under a row lock: two people acting at once queue."""
    return Query.objects.select_for_update().select_related("study", "site").get(pk=query.pk)


def _place(
    subject: Subject, form_instance: FormInstance | None, event: str, item: str, row: int
) -> str:
    """Return the query's scope, refusing a place that is not one of the subject's."""
    if form_instance is None:
        if item:
            raise ValidationError(_("An item query needs its form."))
        return QueryScope.VISIT if event else QueryScope.SUBJECT
    if form_instance.subject_id != subject.pk:
        raise ValidationError(_("This form is not the subject's."))
    if not item:
        return QueryScope.FORM
    rules = study_rules(form_instance.study_version).forms.get(form_instance.form)
    if rules is None or item not in rules.items:
        raise ValidationError(_("The form has no item %(item)s.") % {"item": repr(item)})
    repeating = rules.group_of.get(item) in rules.repeating_groups
    if repeating != (row > 0):
        raise ValidationError(_("Give the row of an item of a repeating group, and only of one."))
    return QueryScope.ITEM


@transaction.atomic
def query_raise(
    *,
    actor: User,
    subject: Subject,
    text: str,
    form_instance: FormInstance | None = None,
    event: str = "",
    occurrence: int | None = None,
    item: str = "",
    row: int = 0,
) -> Query:
    """Raise a manual query on a subject, a visit, a form or an item; return it."""
    require(actor, Action.RAISE_QUERY, study=subject.study, site=subject.site)
    text = _text(text, what=_("what the site should check"))
    scope = _place(subject, form_instance, event, item, row)
    if form_instance is not None:
        event, occurrence = form_instance.event, form_instance.occurrence
    now = utc_now()
    query = Query.objects.create(
        study=subject.study,
        site=subject.site,
        subject=subject,
        kind=QueryKind.MANUAL,
        scope=scope,
        form_instance=form_instance,
        event=event,
        occurrence=occurrence if event else None,
        form=form_instance.form if form_instance is not None else "",
        item=item,
        row=row,
        text=text,
        raised_by=actor,
        raised_by_label=_label(actor),
        opened_at=now,
        updated_at=now,
    )
    _record(
        query,
        actor=actor,
        kind=MessageKind.RAISED,
        text=text,
        old_state="",
        action="query.opened",
        new={
            "kind": QueryKind.MANUAL.value,
            "scope": scope,
            "subject": subject.identifier,
            "event": event,
            "form": query.form,
            "item": item,
            "row": row,
        },
    )
    study_id, site_id = subject.study_id, subject.site_id

    def notify() -> None:
        from carnet.quality.notifications import sites_notify

        sites_notify(study_id=study_id, opened_by_site={site_id: 1})

    transaction.on_commit(notify, robust=True)
    return query


def _require_state(query: Query, *states: str) -> None:
    if query.state not in states:
        raise ValidationError(
            _("This query is %(state)s: it cannot be changed so.")
            % {"state": QueryState(query.state).label}
        )


@transaction.atomic
def query_answer(*, actor: User, query: Query, text: str) -> Query:
    """Answer a query for the site: it waits for its raiser (or a data manager) to close it."""
    query = _locked(query)
    require(actor, Action.ANSWER_QUERY, study=query.study, site=query.site)
    _require_state(query, QueryState.OPEN, QueryState.ANSWERED)
    text = _text(text, what=_("your answer"))
    old, now = query.state, utc_now()
    query.state, query.answered_at, query.updated_at = QueryState.ANSWERED, now, now
    query.save(update_fields=["state", "answered_at", "updated_at"])
    _record(
        query,
        actor=actor,
        kind=MessageKind.ANSWERED,
        text=text,
        old_state=old,
        action="query.answered",
    )
    return query


def may_close(actor: User, query: Query, settings: QuerySettings | None = None) -> bool:
    """Return whether the actor may close, re-open or cancel this query: someone who may close
    queries at its site, and its raiser, or a data manager unless the study reserves closing
    to the raiser (an automatic query has no raiser: whoever may close queries closes it)."""
    if not may(actor, Action.CLOSE_QUERY, study=query.study, site=query.site):
        return False
    if query.raised_by_id is None or query.raised_by_id == actor.pk:
        return True
    settings = settings or query_settings_of(query.study)
    if settings.close_reserved_to_raiser:
        return False
    return may(actor, Action.MANAGE_DATA, study=query.study, site=query.site)


def _require_close(actor: User, query: Query) -> None:
    if not may_close(actor, query):
        raise PermissionDenied(
            _("Only the person who raised this query, or a data manager, may close it.")
            if not query_settings_of(query.study).close_reserved_to_raiser
            else _("This study reserves closing a query to the person who raised it.")
        )


@transaction.atomic
def query_close(*, actor: User, query: Query, text: str = "") -> Query:
    """Close a query: the site's answer (or a correction) settles it."""
    query = _locked(query)
    _require_close(actor, query)
    _require_state(query, QueryState.OPEN, QueryState.ANSWERED)
    old, now = query.state, utc_now()
    query.state, query.resolution = QueryState.CLOSED, Resolution.RESOLVED
    query.closed_at = query.updated_at = now
    query.save(update_fields=["state", "resolution", "closed_at", "updated_at"])
    _record(
        query,
        actor=actor,
        kind=MessageKind.CLOSED,
        text=(text or "").strip(),
        old_state=old,
        action="query.closed",
        new={"resolution": Resolution.RESOLVED.value},
    )
    return query


@transaction.atomic
def query_reopen(*, actor: User, query: Query, text: str) -> Query:
    """Re-open a closed query: the answer did not settle it."""
    query = _locked(query)
    _require_close(actor, query)
    _require_state(query, QueryState.CLOSED)
    if (
        query.check_result_id is not None
        and Query.objects.filter(
            check_result_id=query.check_result_id, state__in=ACTIVE_STATES
        ).exists()
    ):
        raise ValidationError(_("Another query on this check waits already."))
    text = _text(text, what=_("why the query is re-opened"))
    old, now = query.state, utc_now()
    query.state, query.resolution = QueryState.OPEN, Resolution.NONE
    query.closed_at, query.answered_at, query.updated_at = None, None, now
    query.save(update_fields=["state", "resolution", "closed_at", "answered_at", "updated_at"])
    _record(
        query,
        actor=actor,
        kind=MessageKind.REOPENED,
        text=text,
        old_state=old,
        action="query.reopened",
    )
    return query


@transaction.atomic
def query_cancel(*, actor: User, query: Query, text: str) -> Query:
    """Cancel a query raised in error: it never counted."""
    query = _locked(query)
    _require_close(actor, query)
    _require_state(query, QueryState.OPEN, QueryState.ANSWERED)
    text = _text(text, what=_("why the query is cancelled"))
    old, now = query.state, utc_now()
    query.state, query.resolution = QueryState.CANCELLED, Resolution.CANCELLED
    query.closed_at = query.updated_at = now
    query.save(update_fields=["state", "resolution", "closed_at", "updated_at"])
    _record(
        query,
        actor=actor,
        kind=MessageKind.CANCELLED,
        text=text,
        old_state=old,
        action="query.cancelled",
    )
    return query


@transaction.atomic
def query_confirm(*, actor: User, query: Query, text: str) -> Query:
    """Confirm, for the site, that the values an edit check questions are correct: the values
    stay, the query closes, and later checks leave them alone while they stay the same."""
    query = _locked(query)
    require(actor, Action.ANSWER_QUERY, study=query.study, site=query.site)
    if query.kind != QueryKind.AUTOMATIC or query.check_result is None:
        raise ValidationError(_("Only a query from an edit check can be confirmed correct."))
    _require_state(query, QueryState.OPEN, QueryState.ANSWERED)
    text = _text(text, what=_("why the values are correct"))
    result = query.check_result
    now = utc_now()
    CheckAcknowledgement.objects.create(
        form_instance_id=result.form_instance_id,
        check_name=result.check_name,
        row=result.row,
        items=list(result.items),
        fingerprint=fingerprint_of(
            form_instance_id=result.form_instance_id, items=result.items, row=result.row
        ),
        reason=text,
        by=actor,
        query=query,
        created_at=now,
    )
    old = query.state
    query.state, query.resolution = QueryState.CLOSED, Resolution.CONFIRMED
    query.closed_at = query.updated_at = now
    query.save(update_fields=["state", "resolution", "closed_at", "updated_at"])
    _record(
        query,
        actor=actor,
        kind=MessageKind.CONFIRMED,
        text=text,
        old_state=old,
        action="query.confirmed",
        new={"resolution": Resolution.CONFIRMED.value, "check": result.check_name},
    )
    return query


# The study's query options, by the name the API and `carnet queries settings` use.
QUERY_SETTING_NAMES = ("auto_close", "close_reserved_to_raiser", "daily_digest")


def query_settings_parse(pairs: list[str]) -> dict[str, bool]:
    """Return the options written ``name=value`` (value: on/off, true/false, yes/no, 1/0);
    refuse an unknown name or a value that is not a yes or a no, naming it."""
    found: dict[str, bool] = {}
    for pair in pairs:
        name, sign, value = pair.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sign or name not in QUERY_SETTING_NAMES:
            raise ValidationError(
                _("%(pair)s: not a query setting (one of %(names)s, written name=value).")
                % {"pair": pair, "names": ", ".join(QUERY_SETTING_NAMES)}
            )
        if value in {"on", "true", "yes", "1"}:
            found[name] = True
        elif value in {"off", "false", "no", "0"}:
            found[name] = False
        else:
            raise ValidationError(
                _("%(pair)s: the value is on or off.") % {"pair": pair},
            )
    return found


@transaction.atomic
def query_settings_set(
    *,
    actor: Actor,
    study: Study,
    reason: str,
    auto_close: bool | None = None,
    close_reserved_to_raiser: bool | None = None,
    daily_digest: bool | None = None,
) -> QuerySettings:
    """Change a study's query options (those who manage the whole study: data managers,
    project managers; or the server's operator on the command line); audited with the reason."""
    if not isinstance(actor, SystemActor):
        require(cast(User, actor), Action.MANAGE_STUDY, study=study)
    if not reason.strip():
        raise ValidationError(_("Say why the query settings change (kept in the audit trail)."))
    settings, _created = QuerySettings.objects.select_for_update().get_or_create(study=study)
    old = {name: getattr(settings, name) for name in QUERY_SETTING_NAMES}
    for name, value in (
        ("auto_close", auto_close),
        ("close_reserved_to_raiser", close_reserved_to_raiser),
        ("daily_digest", daily_digest),
    ):
        if value is not None:
            setattr(settings, name, value)
    settings.save()
    new = {name: getattr(settings, name) for name in old}
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action="query.settings_changed",
                target=settings,
                old=old,
                new=new,
                reason=reason.strip(),
            )
        ],
        chain=study.audit_chain,
    )
    return settings


@transaction.atomic
def data_review_mark(*, actor: User, form_instance: FormInstance) -> DataReview:
    """Mark a form instance reviewed by a data manager at its current version; audited."""
    subject = form_instance.subject
    require(actor, Action.MANAGE_DATA, study=subject.study, site=subject.site)
    instance = FormInstance.objects.select_for_update().get(pk=form_instance.pk)
    previous = DataReview.objects.filter(form_instance=instance).first()
    review, _created = DataReview.objects.update_or_create(
        form_instance=instance,
        defaults={"version": instance.version, "by": actor, "reviewed_at": utc_now()},
    )
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action="form.data_reviewed",
                target=instance,
                old={"version": previous.version} if previous else None,
                new={"version": instance.version},
            )
        ],
        chain=subject.study.audit_chain,
    )
    return review
