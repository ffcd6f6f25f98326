"""The lock and signature badges capture's pages show: on the form (with a panel to lock,
unlock and sign beside it) and on each cell of the casebook."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.capture.annotations import FormMarks, Mark
from carnet.capture.models import FormInstance
from carnet.oversight.models import DataLock, DataSignature, Scope
from carnet.oversight.selectors import locks_of_subject, signatures_of_subject
from carnet.subjects.models import Subject

# Keys that match no item of a form: the page shows these marks on the form itself.
LOCK_KEY = ("oversight:lock", 0)
SIGNATURE_KEY = ("oversight:signature", 0)


def _covers(place: DataLock | DataSignature, instance: FormInstance) -> bool:
    if place.scope in {Scope.SITE, Scope.SUBJECT}:
        return True
    same_visit = (place.event, place.occurrence) == (instance.event, instance.occurrence)
    if place.scope == Scope.VISIT:
        return same_visit
    return same_visit and (place.form, place.repeat) == (instance.form, instance.repeat)


def _labels(
    instance: FormInstance, locks: list[DataLock], signatures: list[DataSignature]
) -> tuple[str, str]:
    """Return the lock's and the signature's labels for one form instance ("" when none)."""
    lock = next((lock for lock in locks if _covers(lock, instance)), None)
    lock_label = _("Locked (%(place)s)") % {"place": lock.place()} if lock else ""
    signature_label = ""
    for signed in signatures:  # latest first: a valid signature wins over an older void one
        if not _covers(signed, instance):
            continue
        if signed.valid:
            signature_label = _("Signed by %(signer)s") % {"signer": signed.signer_name}
            break
        if not signature_label:
            signature_label = _("Signature voided (%(reason)s)") % {"reason": signed.void_reason}
    return lock_label, signature_label


def panel_url(instance: FormInstance) -> str:
    subject = instance.subject
    url = reverse(
        "oversight:form_panel",
        args=[
            subject.study.identifier,
            subject.identifier,
            instance.event,
            instance.occurrence,
            instance.form,
        ],
    )
    return url + (f"?repeat={instance.repeat}" if instance.repeat > 1 else "")


def form_marks(actor: User, instance: FormInstance) -> FormMarks:
    """Return the form's lock and signature badges and the oversight panel beside the form."""
    subject = instance.subject
    lock_label, signature_label = _labels(
        instance, locks_of_subject(subject), signatures_of_subject(subject)
    )
    url = panel_url(instance)
    marks = {}
    if lock_label:
        marks[LOCK_KEY] = Mark(count=1, label=lock_label, url=url)
    if signature_label:
        marks[SIGNATURE_KEY] = Mark(count=1, label=signature_label, url=url)
    return FormMarks(marks=marks, panel_url=url)


def casebook_marks(actor: User, subject: Subject) -> dict[int, Mark]:
    """Return one badge per form instance of the casebook that a lock or a signature covers."""
    locks = locks_of_subject(subject)
    signatures = signatures_of_subject(subject)
    if not locks and not signatures:
        return {}
    url = reverse("oversight:subject", args=[subject.study.identifier, subject.identifier])
    found: dict[int, Mark] = {}
    for instance in FormInstance.objects.filter(subject=subject).order_by():
        labels = [label for label in _labels(instance, locks, signatures) if label]
        if labels:
            found[instance.pk] = Mark(count=len(labels), label=" · ".join(labels), url=url)
    return found
