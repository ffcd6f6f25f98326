"""How other apps take part in capture's writes (capture/seams.py): a guard that refuses blocks
every entry point that writes data, a listener sees exactly what a save changed, inside its
transaction, and work handed to after-commit runs once the write is committed, never after a
rollback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.capture import seams
from carnet.capture.models import FormInstance, ItemValue, StoredFile
from carnet.capture.modes import study_mode_guard
from carnet.capture.news import last_news_on_save
from carnet.capture.seams import (
    Change,
    SaveRefused,
    ValueState,
    WriteContext,
    WriteKind,
    register_save_guard,
    register_save_listener,
)
from carnet.capture.services import form_mark_not_done, form_save
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

SUBJECT = "/studies/MINI/subjects/01-001/"
VITALS = SUBJECT + "forms/baseline/1/vitals/"
LESIONS = SUBJECT + "forms/baseline/1/lesions/"
API = "/api/studies/MINI/subjects/01-001/forms/baseline/1/"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SIGNED = "The casebook of 01-001 is signed: ask the investigator to reopen it."


class Signature:
    """A guard refusing every write, as a signed casebook would, once `sign` registers it."""

    def __init__(self) -> None:
        self.seen: list[WriteContext] = []

    def refuse(self, context: WriteContext) -> None:
        self.seen.append(context)
        raise SaveRefused(SIGNED, place="subject")

    def sign(self) -> None:
        register_save_guard(self.refuse)


@pytest.fixture
def signature() -> Iterator[Signature]:
    signature = Signature()
    yield signature
    if signature.refuse in seams.SAVE_GUARDS:
        seams.SAVE_GUARDS.remove(signature.refuse)


@pytest.fixture
def heard() -> Iterator[list[WriteContext]]:
    """Register a listener; yield the writes it heard."""
    writes: list[WriteContext] = []

    def listen(context: WriteContext) -> None:
        writes.append(context)

    register_save_listener(listen)
    yield writes
    seams.SAVE_LISTENERS.remove(listen)


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client(capture: Capture) -> Client:
    _token, key = token_create(actor=ADMIN, user=capture.entry, study=capture.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def save_vitals(capture: Capture, base: int | None, **values: Any) -> Any:
    return form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=base,
        values=values,
    )


def lesions_not_done(capture: Capture) -> None:
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=0,
        reason="scanner broken",
    )


def written() -> tuple[list[tuple[str, str, int]], list[tuple[str, int, str]], int]:
    """Return the form instances, values and audit events now stored."""
    return (
        sorted(FormInstance.objects.values_list("form", "status", "version")),
        sorted(ItemValue.objects.values_list("item", "row", "text")),
        AuditEvent.objects.count(),
    )


# --- guards -----------------------------------------------------------------------------------


def test_a_refusing_guard_blocks_every_entry_point_and_nothing_is_written(
    capture: Capture, signature: Signature, settings: Any, tmp_path: Any
) -> None:
    settings.DATA_DIR = tmp_path
    save_vitals(capture, None, weight=70)
    lesions_not_done(capture)  # so that there is something to reopen
    page, api = page_client(capture.entry), api_client(capture)
    signature.sign()
    before = written()
    # Each entry point, the kind of write it is, and how it asks.
    entry_points: dict[str, tuple[WriteKind, Callable[[], Any]]] = {
        "page save": (
            WriteKind.SAVE,
            lambda: page.post(VITALS, {"version": "1", "v-weight": "71", "m-weight": ""}),
        ),
        "page not done": (
            WriteKind.NOT_DONE,
            lambda: page.post(
                VITALS + "not-done/", {"version": "1", "not_done_reason": "refused"}, follow=True
            ),
        ),
        "page reopen": (
            WriteKind.REOPEN,
            lambda: page.post(
                LESIONS + "reopen/", {"version": "1", "reason": "done after all"}, follow=True
            ),
        ),
        "page upload": (
            WriteKind.FILE,
            lambda: page.post(
                LESIONS + "files/scan_pdf/", {"version": "1", "upload": _pdf()}, follow=True
            ),
        ),
        "API save": (
            WriteKind.SAVE,
            lambda: api.put(
                API + "vitals", {"version": 1, "values": {"weight": 71}}, "application/json"
            ),
        ),
        "API not done": (
            WriteKind.NOT_DONE,
            lambda: api.post(
                API + "vitals/not-done", {"version": 1, "reason": "refused"}, "application/json"
            ),
        ),
        "API reopen": (
            WriteKind.REOPEN,
            lambda: api.post(
                API + "lesions/reopen",
                {"version": 1, "reason": "done after all"},
                "application/json",
            ),
        ),
        "API upload": (
            WriteKind.FILE,
            lambda: api.post(API + "lesions/files/scan_pdf", {"version": "1", "upload": _pdf()}),
        ),
    }
    for entry_point, (kind, send) in entry_points.items():
        signature.seen.clear()
        answer = send()
        if entry_point.startswith("API"):
            assert answer.status_code == 400, entry_point
            assert answer.json()["detail"] == SIGNED, entry_point
        else:
            assert SIGNED in answer.content.decode(), entry_point
        # The guard was asked about this write (a page shown after it may ask again, dry).
        assert kind in [context.kind for context in signature.seen], entry_point
    assert written() == before
    assert not StoredFile.objects.exists()  # the refused upload kept no document either


def test_the_guard_speaks_before_a_stale_save_is_told_what_changed(
    capture: Capture, signature: Signature
) -> None:
    save_vitals(capture, None, weight=70)
    signature.sign()
    with pytest.raises(SaveRefused, match="is signed"):
        save_vitals(capture, 0, weight=71)  # stale: based on version 0


def test_a_guard_sees_the_form_before_the_save_reads_anything(
    capture: Capture, signature: Signature
) -> None:
    signature.sign()
    with pytest.raises(SaveRefused):
        save_vitals(capture, None, weight="not a number")  # the guard comes before validation
    [context] = signature.seen
    assert context.changes == []
    assert context.form_instance.pk is None  # a form never saved yet
    assert (context.form_instance.event, context.form_instance.form) == ("baseline", "vitals")
    assert context.subject == capture.subject
    assert context.actor == capture.entry


def test_the_study_mode_is_a_guard_of_every_write(capture: Capture) -> None:
    assert study_mode_guard in seams.SAVE_GUARDS
    study_mode_change(actor=ADMIN, study=capture.world.study, mode="frozen", reason="cleaning")
    capture.subject = Subject.objects.get(pk=capture.subject.pk)
    with pytest.raises(SaveRefused) as refusal:
        save_vitals(capture, None, weight=70)
    assert (str(refusal.value), refusal.value.place) == (
        "MINI is frozen: its data cannot change.",
        "study",
    )


# --- listeners --------------------------------------------------------------------------------


def test_a_listener_hears_exactly_the_changed_items_once_they_are_written(
    capture: Capture, heard: list[WriteContext]
) -> None:
    stored: list[int] = []

    def look(context: WriteContext) -> None:
        # Called once the values are written.
        stored.append(ItemValue.objects.filter(form_instance=context.form_instance).count())

    register_save_listener(look)
    try:
        first = save_vitals(capture, None, weight=70, height=175, vs_date="2026-01-20")
        save_vitals(capture, first.form_instance.version, weight=72, height=175)
        save_vitals(capture, 2, weight=72)  # nothing changes
    finally:
        seams.SAVE_LISTENERS.remove(look)

    assert [len(context.changes) for context in heard] == [4, 2, 0]
    assert [(c.item, c.row, c.old, c.new.text) for c in heard[0].changes] == [
        ("weight", 0, None, "70"),
        ("height", 0, None, "175"),
        ("vs_date", 0, None, "2026-01-20"),
        ("bmi", 0, None, "22.857143"),  # a calculated item the save changed is a change too
    ]
    assert heard[0].changes[2].new.day is not None
    weight, bmi = heard[1].changes
    assert weight == Change(
        item="weight",
        row=0,
        place="weight",
        old=ValueState(text="70", number=Decimal(70)),
        new=ValueState(text="72", number=Decimal(72)),
    )
    assert (bmi.item, bmi.old and bmi.old.text, bmi.new.text) == ("bmi", "22.857143", "23.510204")
    assert all(context.kind == WriteKind.SAVE for context in heard)
    assert stored == [4, 4, 4]


def test_a_listener_hears_a_removed_row_and_a_change_of_status(
    capture: Capture, heard: list[WriteContext]
) -> None:
    lesions = {"event": "baseline", "form": "lesions"}
    first = form_save(
        actor=capture.entry,
        subject=capture.subject,
        **lesions,
        base_version=None,
        rows={"target": {1: {"lesion_site": "liver", "diameter": 20}, 2: {"diameter": 15}}},
    )
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        **lesions,
        base_version=first.form_instance.version,
        rows={"target": {1: None}},
    )
    removed = [c for c in heard[1].changes if c.new.removed]
    assert sorted((c.place, c.old and c.old.text) for c in removed) == [
        ("target[1].diameter", "20"),
        ("target[1].lesion_site", "liver"),
    ]
    form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        **lesions,
        base_version=2,
        reason="scanner broken",
    )
    assert (heard[-1].kind, heard[-1].changes, heard[-1].reason) == (
        WriteKind.NOT_DONE,
        [],
        "scanner broken",
    )


def test_a_listener_that_fails_undoes_the_whole_save(
    capture: Capture, heard: list[WriteContext]
) -> None:
    def fail(context: WriteContext) -> None:
        raise SaveRefused("A listener refused.")

    register_save_listener(fail)
    events = AuditEvent.objects.count()
    try:
        with pytest.raises(SaveRefused):
            save_vitals(capture, None, weight=70)
    finally:
        seams.SAVE_LISTENERS.remove(fail)
    assert len(heard) == 1  # it was told, and its work went with the rollback
    assert not ItemValue.objects.exists()
    assert AuditEvent.objects.count() == events


def test_last_news_is_a_listener(capture: Capture) -> None:
    assert last_news_on_save in seams.SAVE_LISTENERS


# --- after commit -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_commit_work_runs_once_committed_and_never_after_a_rollback(
    capture: Capture,
) -> None:
    ran: list[tuple[str, bool, int]] = []

    def hand_over(context: WriteContext) -> None:
        weight = next((c.new.text for c in context.changes if c.item == "weight"), "")

        def work() -> None:
            # Outside any transaction, and the save is there for anyone to read.
            ran.append((weight, connection.in_atomic_block, ItemValue.objects.count()))

        context.after_commit(work)

    def refuse_heavy(context: WriteContext) -> None:
        if any(c.item == "weight" and c.new.text == "200" for c in context.changes):
            raise SaveRefused("Weigh the patient again.")

    register_save_listener(hand_over)
    register_save_listener(refuse_heavy)
    try:
        first = save_vitals(capture, None, weight=70)
        assert ran == [("70", False, 1)]
        with pytest.raises(SaveRefused):
            save_vitals(capture, first.form_instance.version, weight=200)
        assert ran == [("70", False, 1)]  # the rolled-back save's work never runs
    finally:
        seams.SAVE_LISTENERS.remove(hand_over)
        seams.SAVE_LISTENERS.remove(refuse_heavy)


def _pdf() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("scan.pdf", PDF, content_type="application/pdf")
