"""Writes of the interop app: name a cut-off, record an export. Both are audit events."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor, require
from carnet.accounts.roles import Action
from carnet.audit.models import ChainHead
from carnet.audit.services import SystemActor, audit_record
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.interop.models import Cutoff
from carnet.studies.models import Study

CUTOFF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _label(actor: Actor) -> str:
    return actor.label if isinstance(actor, SystemActor) else actor.get_username()


def may_export(actor: Actor, *, study: Study) -> None:
    """Refuse someone who may not export the study's data (a command may)."""
    if not isinstance(actor, SystemActor):
        require(actor, Action.EXPORT, study=study)


@transaction.atomic
def cutoff_create(
    *, actor: Actor, study: Study, name: str, reason: str, cut_on: date | None = None
) -> Cutoff:
    """Name the study's audit chain as it stands now a data cut-off, and record it.

    The cut-off keeps the last event's sequence number and hash: exports made from it later
    are rebuilt from the events up to there and come out the same, whatever changed since.
    """
    may_export(actor, study=study)
    name = name.strip()
    if not CUTOFF_NAME.fullmatch(name):
        raise ValidationError(
            _(
                "name: %(name)r is not a cut-off name (letters, digits, '.', '_' or '-', "
                "at most 64, starting with a letter or a digit)."
            )
            % {"name": name}
        )
    if not reason.strip():
        raise ValidationError(_("reason: say why the data are cut off (an analysis, a DSMB…)."))
    if Cutoff.objects.filter(study=study, name=name).exists():
        raise ValidationError(
            _("name: %(study)s already has a cut-off named %(name)s; a cut-off never changes.")
            % {"study": study.identifier, "name": name}
        )
    # Lock the head: the cut-off is exactly the chain as it stands, no save in between.
    head = ChainHead.objects.select_for_update().filter(chain=study.audit_chain).first()
    if head is None or head.seq == 0:
        raise ValidationError(
            _("%(study)s has no audit events yet: there is nothing to cut off.")
            % {"study": study.identifier}
        )
    cutoff = Cutoff.objects.create(
        study=study,
        name=name,
        seq=head.seq,
        head_hash=head.hash,
        cut_on=cut_on or utc_today(),
        reason=reason.strip(),
        created_by=_label(actor),
    )
    audit_record(
        actor=actor,
        action="cutoff.created",
        target=cutoff,
        new={
            "name": name,
            "seq": cutoff.seq,
            "hash": cutoff.head_hash,
            "cut_on": cutoff.cut_on,
        },
        reason=cutoff.reason,
        chain=study.audit_chain,
    )
    return cutoff


@transaction.atomic
def export_record(
    *, actor: Actor, study: Study, cutoff: Cutoff, options: dict[str, Any], manifest_sha256: str
) -> None:
    """Record that data left Carnet: from which cut-off, with which options, and what."""
    audit_record(
        actor=actor,
        action="export.made",
        target=cutoff,
        new={"cutoff": cutoff.name, "seq": cutoff.seq, **options, "manifest": manifest_sha256},
        chain=study.audit_chain,
    )
