"""Kits of blinded studies: the per-site kit list, its import, and the kit given at allocation.

A kit number is not arm-revealing by itself: the site enters it and sees it, the hospital
pharmacy dispenses it. The kit list (number → arm) is: only unblinded roles and the server's
commands read it. A study has kits once a kit list is imported; from then on every allocation of
a blinded study takes the next kit of the subject's site holding the allocated arm, and is
refused (nothing allocated, the data managers told) when the site has none left.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.permissions import PermissionDenied, is_unblinded
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.audit.services import Actor, SystemActor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.models import Kit
from carnet.randomization.selectors import RandomisationRefused
from carnet.studies.models import Study
from carnet.subjects.environments import Environment, environment_written
from carnet.subjects.models import Subject

KIT_COLUMNS = ("site", "number", "arm")


def study_blinded(study: Study) -> bool:
    """Return whether the study's design is blinded (``design.blinding`` other than open)."""
    if study.current_version is None:
        return False
    return study.current_version.parsed().design.get("blinding", "open") != "open"


def kits_in_use(study: Study, environment: str) -> bool:
    """Return whether the study has a kit list in this environment."""
    return Kit.objects.filter(study=study, environment=environment).exists()


def _line_refusal(line: int, why: str) -> ValidationError:
    return ValidationError(_("line %(line)s: %(why)s") % {"line": line, "why": why})


def kits_import(*, actor: Actor, study: Study, content: bytes, file_name: str = "") -> int:
    """Import kits (CSV: ``site``, ``number``, ``arm``) into the study's kit list; all lines or
    none; return how many kits were added. Only the server's commands and unblinded people may:
    the list reveals the arms."""
    if not isinstance(actor, SystemActor) and not is_unblinded(actor, study=study):  # type: ignore[arg-type]
        raise PermissionDenied(_("Only unblinded roles may handle the kit list."))
    if study.current_version is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    arms = {arm.name for arm in study.current_version.parsed().arms}
    sites = {site.code: site for site in study.sites.all()}
    environment = environment_written(study)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(_("the file is not UTF-8 text.")) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in KIT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            _("line 1: the columns %(columns)s are missing.") % {"columns": ", ".join(missing)}
        )
    known = set(
        Kit.objects.filter(study=study, environment=environment).values_list("number", flat=True)
    )
    kits: list[Kit] = []
    for line, row in enumerate(reader, start=2):
        site, number, arm = (
            (row["site"] or "").strip(),
            (row["number"] or "").strip(),
            (row["arm"] or "").strip(),
        )
        if site not in sites:
            raise _line_refusal(
                line, _("the site %(value)r is not a site of the study.") % {"value": site}
            )
        if not number or len(number) > 40:
            raise _line_refusal(line, _("the kit number is empty or longer than 40 characters."))
        if number in known:
            raise _line_refusal(
                line, _("the kit %(value)s is already in the list.") % {"value": number}
            )
        if arm not in arms:
            raise _line_refusal(
                line, _("the arm %(value)r is not an arm of the study.") % {"value": arm}
            )
        known.add(number)
        kits.append(
            Kit(study=study, environment=environment, site=sites[site], number=number, arm=arm)
        )
    if not kits:
        raise ValidationError(_("the file has no kit."))
    with transaction.atomic():
        Kit.objects.bulk_create(kits)
        audit_record(
            actor=actor,
            action="randomisation.kits_imported",
            target=("study", study.identifier),
            new={
                "environment": environment,
                "file_name": file_name,
                "file_sha256": sha256_hex(content),
                "kits": len(kits),
            },
            chain=study.audit_chain,
        )
    return len(kits)


class KitsExhausted(Exception):
    """The subject's site has no kit left for the allocated arm."""


# A higher app (the pharmacy) that manages the study's kits itself: called inside the
# allocation's transaction with the subject, its allocated arm, the actor and the moment; returns
# the kit numbers it assigned, or None when the study's kits are not its own (the kit list below
# then serves). It raises KitsExhausted when the site has no usable kit of the arm.
KitAssigner = Callable[[Subject, str, Actor, datetime], "list[str] | None"]
_KIT_ASSIGNERS: list[KitAssigner] = []


def register_kit_assigner(assigner: KitAssigner) -> None:
    """Let a higher app assign kits at allocation (the pharmacy, in its AppConfig.ready)."""
    if assigner not in _KIT_ASSIGNERS:
        _KIT_ASSIGNERS.append(assigner)


def kit_number_take(subject: Subject, arm: str, *, actor: Actor, at: datetime) -> str:
    """Inside the allocation's transaction: return the kit number(s) given at allocation ("" for
    none): a registered assigner's when it manages the study's kits, else the kit list's."""
    for assigner in _KIT_ASSIGNERS:
        numbers = assigner(subject, arm, actor, at)
        if numbers is not None:
            return ", ".join(numbers)[:40]
    kit = kit_take(subject, arm, at=at)
    return kit.number if kit else ""


def kit_take(subject: Subject, arm: str, *, at: datetime | None = None) -> Kit | None:
    """Inside the allocation's transaction (the study's counter locked): give the subject the
    next kit of its site holding ``arm``; None when the study is open or has no kit list; raise
    KitsExhausted when the site has none left."""
    if not study_blinded(subject.study) or not kits_in_use(subject.study, subject.environment):
        return None
    kit = (
        Kit.objects.select_for_update()
        .filter(
            study=subject.study,
            environment=subject.environment,
            site=subject.site,
            arm=arm,
            given_to__isnull=True,
            reserved=False,  # kits of the site's sealed envelopes stay for an outage
        )
        .order_by("number")
        .first()
    )
    if kit is None:
        raise KitsExhausted
    kit.given_to, kit.given_at = subject, at or utc_now()
    kit.save(update_fields=["given_to", "given_at"])
    return kit


def kits_exhausted_refusal(subject: Subject) -> RandomisationRefused:
    """Tell the site's data managers (in their transaction) and return the refusal to raise."""
    words = {
        "study": subject.study.identifier,
        "site": subject.site.code,
        "subject": subject.identifier,
    }
    with transaction.atomic():
        for recipient in site_members(
            study=subject.study, site=subject.site_id, roles=[Role.DATA_MANAGER]
        ):
            language = recipient_language(recipient)
            with translation.override(language):
                title = _("%(study)s: site %(site)s has no kit left") % words
                body = (
                    _(
                        "Subject %(subject)s of study %(study)s could not be randomised: site "
                        "%(site)s has no kit left. Add kits to the site's kit list (carnet "
                        "randomization kits), then the site can randomise again."
                    )
                    % words
                )
                if subject.environment == Environment.TEST:
                    body += "\n\n" + _("Test data: the study is in test mode.")
            message_send(recipient=recipient, subject=title, body=body, language=language)
    return RandomisationRefused(
        "no_kit",
        _("the site has no kit left; the data managers are told. Nothing was allocated."),
    )
