"""The save pipeline as site staff meet it: typed values, calculations, branching, checks,
conflicts, reasons, and the audit trail that can rebuild everything."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.capture.models import CheckResult, FormInstance, ItemValue
from carnet.capture.services import (
    FormConflict,
    FormErrors,
    Missing,
    form_mark_not_done,
    form_reopen,
    form_save,
)
from carnet.capture.values import ValueRefused, read_value
from carnet.core.errors import ValidationError
from carnet.studies.definition.model import Item, Label
from tests.capture.conftest import Capture
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db


def save(c: Capture, base: int | None = 0, user: Any = None, form: str = "vitals", **kwargs: Any):  # type: ignore[no-untyped-def]
    return form_save(
        actor=user or c.entry,
        subject=c.subject,
        event="baseline",
        form=form,
        base_version=base,
        **kwargs,
    )


def stored(c: Capture, form: str = "vitals") -> dict[tuple[str, int], str]:
    instance = FormInstance.objects.get(subject=c.subject, form=form)
    return {
        (v.item, v.row): v.text or v.missing_code for v in instance.values.filter(removed=False)
    }


def test_values_are_typed_and_stored_as_canonical_text(capture: Capture) -> None:
    outcome = save(
        capture, values={"weight": "72,50", "height": "175", "sbp": 130, "dbp": "80", "smoker": "0"}
    )
    instance = outcome.form_instance
    assert (instance.status, instance.version) == ("in_progress", 1)
    values = {v.item: v for v in instance.values.all()}
    assert values["weight"].text == "72.5"
    assert float(values["weight"].number) == 72.5
    assert values["smoker"].text == "0"
    assert values["bmi"].text == "23.673469"  # calculated: 72.5 / 1.75²
    changed = AuditEvent.objects.filter(action="item.changed", chain="study:MINI")
    assert {e.new["item"] for e in changed} == {"weight", "height", "bmi", "sbp", "dbp", "smoker"}
    assert all(e.actor_label.startswith("julie") for e in changed)


def test_an_aggregate_over_lesion_rows_is_computed_and_a_removed_row_is_kept_marked(
    capture: Capture,
) -> None:
    rows = {
        "target": {
            1: {"lesion_site": "liver", "diameter": 23},
            2: {"lesion_site": "lung", "diameter": "31"},
            3: {"lesion_site": "node", "diameter": 15},
        }
    }
    first = save(capture, form="lesions", rows=rows)
    assert stored(capture, "lesions")[("sum_diameters", 0)] == "69"
    second = save(
        capture, base=first.form_instance.version, form="lesions", rows={"target": {2: None}}
    )
    assert stored(capture, "lesions")[("sum_diameters", 0)] == "38"
    removed = ItemValue.objects.get(item="diameter", row=2)
    assert removed.removed
    assert removed.text == ""
    assert second.form_instance.version == 2
    assert (
        AuditEvent.objects.filter(action="item.changed", new__row=2, new__removed=True).count() == 2
    )


def test_a_hidden_item_is_not_required_and_its_value_is_kept_and_flagged(capture: Capture) -> None:
    first = save(capture, values={"weight": 70, "smoker": 1, "packs": 30})
    second = save(capture, base=first.form_instance.version, values={"smoker": 0})
    assert stored(capture)[("packs", 0)] == "30"
    assert ItemValue.objects.get(item="packs").hidden
    assert second.hidden_kept == ["packs"]


def test_a_soft_check_saves_and_records_a_result_until_corrected(capture: Capture) -> None:
    first = save(capture, values={"sbp": 80, "dbp": 90})
    (result,) = first.soft_checks
    assert result.check_name == "bp_order"
    assert result.message_fr == "La PAS doit dépasser la PAD"
    assert stored(capture)[("sbp", 0)] == "80"
    save(capture, base=1, values={"sbp": 130})
    assert not CheckResult.objects.get().open


def test_a_hard_check_refuses_the_save_and_names_the_items(capture: Capture) -> None:
    with pytest.raises(FormErrors) as refused:
        save(capture, values={"weight": 240, "height": 150})
    assert refused.value.errors == {
        "weight": "A BMI of 70 or more is not plausible: check weight and height",
        "height": "A BMI of 70 or more is not plausible: check weight and height",
    }
    assert not ItemValue.objects.exists()
    assert not AuditEvent.objects.filter(action="item.changed").exists()


@pytest.mark.parametrize(
    ("values", "place", "message"),
    [
        ({"weight": "heavy"}, "weight", "'heavy' is not a number."),
        ({"weight": 12}, "weight", "12 is below the minimum 20 kg."),
        ({"height": "175.5"}, "height", "'175.5' is not a whole number."),
        ({"smoker": 7}, "smoker", "7 is not one of the codes [1, 0]."),
        ({"colour": "blue"}, "colour", "'vitals' has no item 'colour'."),
        ({"bmi": 22}, "bmi", "This item is calculated; it cannot be entered."),
        ({"weight": "x" * (10 * 1024 * 1024)}, "weight", "characters long; at most 4000 are kept."),
        ({"height": Missing("XX")}, "height", "'XX' is not a missing-data code of this study"),
    ],
)
def test_bad_values_are_refused_with_their_place_and_nothing_is_written(
    capture: Capture, values: dict[str, Any], place: str, message: str
) -> None:
    with pytest.raises(FormErrors) as refused:
        save(capture, values={"sbp": 120, **values})
    assert message in refused.value.errors[place]
    assert not ItemValue.objects.exists()


@pytest.mark.parametrize(
    ("values", "place", "english", "french"),
    [
        (
            {"weight": "heavy"},
            "weight",
            "'heavy' is not a number.",
            "'heavy' n'est pas un nombre.",
        ),
        (
            {"vs_date": "30/02/2026"},
            "vs_date",
            "'30/02/2026' is not a date (2026-11-22 or 22/11/2026).",
            "'30/02/2026' n'est pas une date (22/11/2026 ou 2026-11-22).",
        ),
        (
            {"height": Missing("XX")},
            "height",
            "'XX' is not a missing-data code of this study (NA, ND, UNK).",
            "'XX' n'est pas un code de donnée manquante de cette étude (NA, ND, UNK).",
        ),
        (  # a hard edit check: the study's own sentence in the person's language
            {"weight": 240, "height": 150},
            "height",
            "A BMI of 70 or more is not plausible: check weight and height",
            "Un IMC de 70 ou plus n'est pas plausible : vérifiez poids et taille",
        ),
    ],
)
def test_a_refusal_speaks_the_language_of_the_person_saving(
    capture: Capture, values: dict[str, Any], place: str, english: str, french: str
) -> None:
    with translation.override("fr"), pytest.raises(FormErrors) as in_french:
        save(capture, values=values)
    assert in_french.value.errors[place] == french
    with pytest.raises(FormErrors) as in_english:
        save(capture, values=values)
    assert in_english.value.errors[place] == english
    assert not ItemValue.objects.exists()


def test_a_date_out_of_its_range_is_said_before_or_after_in_french() -> None:
    day = Item(
        oid="IT.SURGERY",
        name="surgery_on",
        type="date",
        label=Label(en="Date of surgery"),
        range_min="2020-01-01",
        range_max="2026-12-31",
    )
    with pytest.raises(ValueRefused, match=r"^2019-05-02 is below the minimum 2020-01-01\.$"):
        read_value(day, "02/05/2019")
    with translation.override("fr"):
        with pytest.raises(ValueRefused) as early:
            read_value(day, "02/05/2019")
        with pytest.raises(ValueRefused) as late:
            read_value(day, "2027-01-04")
    assert str(early.value) == "La date 2019-05-02 est antérieure à la date minimale (2020-01-01)."
    assert str(late.value) == "La date 2027-01-04 est postérieure à la date maximale (2026-12-31)."


def test_too_many_decimals_are_counted_in_good_english() -> None:
    def weight(decimals: int) -> Item:
        label = Label(en="Weight")
        return Item(oid="IT.W", name="weight", type="decimal", label=label, decimals=decimals)

    with pytest.raises(ValueRefused, match=r"^'72\.45' has more than 1 decimal place\.$"):
        read_value(weight(1), "72.45")
    with pytest.raises(ValueRefused, match=r"^'72\.456' has more than 2 decimal places\.$"):
        read_value(weight(2), "72.456")


def test_html_in_text_is_stored_as_text(capture: Capture) -> None:
    hostile = '<script>alert("x")</script>'
    save(capture, form="lesions", rows={"target": {1: {"lesion_site": hostile, "diameter": 12}}})
    assert ItemValue.objects.get(item="lesion_site").text == hostile


def test_missing_data_codes_are_values_too(capture: Capture) -> None:
    save(capture, values={"height": Missing("ND"), "weight": 70})
    assert stored(capture)[("height", 0)] == "ND"
    assert stored(capture).get(("bmi", 0)) is None  # nothing to compute from


def test_a_complete_form_needs_its_required_items_and_then_a_reason_to_change(
    capture: Capture,
) -> None:
    with pytest.raises(FormErrors) as refused:
        save(capture, values={"height": 170}, complete=True)
    assert refused.value.errors == {"weight": "Required: enter a value or a missing-data code."}
    done = save(capture, values={"height": 170, "weight": 70}, complete=True)
    assert done.form_instance.status == "complete"
    with pytest.raises(FormErrors) as no_reason:
        save(capture, base=done.form_instance.version, values={"weight": 71})
    assert no_reason.value.errors == {"reason": "This form is complete: say why you change it."}
    changed = save(
        capture,
        base=done.form_instance.version,
        values={"weight": 71},
        reason="transcription error",
    )
    assert changed.form_instance.status == "complete"
    event = (
        AuditEvent.objects.filter(action="item.changed", new__item="weight")
        .order_by("-seq")
        .first()
    )
    assert event is not None
    assert (event.old["text"], event.new["text"], event.reason) == (
        "70",
        "71",
        "transcription error",
    )


def test_a_stale_save_is_refused_with_what_changed(capture: Capture) -> None:
    save(capture, values={"weight": 70})
    with pytest.raises(FormConflict) as conflict:
        save(capture, base=0, values={"weight": 75})
    assert conflict.value.current_version == 1
    assert [c["place"] for c in conflict.value.changes] == ["weight"]
    assert stored(capture)[("weight", 0)] == "70"


def _two_saves_at_once(capture: Capture, base: int) -> dict[int, Any]:
    """Save weights 71 and 72 at the same moment from two connections; return, for each weight,
    "saved" or the FormConflict it met."""
    start = threading.Barrier(2)
    results: dict[int, Any] = {}

    def write(weight: int) -> None:
        try:
            start.wait()
            save(capture, base=base, values={"weight": weight})
            results[weight] = "saved"
        except FormConflict as conflict:
            results[weight] = conflict
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in (71, 72)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_people_saving_the_same_form_one_wins_the_other_gets_a_conflict(
    capture: Capture,
) -> None:
    save(capture, values={"weight": 70})
    results = [
        "saved" if r == "saved" else "conflict" for r in _two_saves_at_once(capture, 1).values()
    ]
    assert sorted(results) == ["conflict", "saved"]
    assert stored(capture)[("weight", 0)] in {"71", "72"}
    assert FormInstance.objects.get().version == 2


@pytest.mark.django_db(transaction=True)
def test_two_first_saves_of_a_form_at_once_one_wins_the_other_is_told_what_it_wrote(
    capture: Capture,
) -> None:
    results = _two_saves_at_once(capture, 0)
    assert sorted(str(type(r).__name__) for r in results.values()) == ["FormConflict", "str"]
    winner = next(w for w, r in results.items() if r == "saved")
    loser = next(r for r in results.values() if isinstance(r, FormConflict))
    assert loser.current_version == 1
    assert {c["place"]: c["text"] for c in loser.changes}["weight"] == str(winner)
    assert stored(capture)[("weight", 0)] == str(winner)
    assert FormInstance.objects.get().version == 1
    assert audit_verify(chain="study:MINI").intact


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_save_in_progress_holds_its_form_not_the_study_or_the_subject(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves of other forms and subjects of the study wait for nothing but the audit chain."""
    import psycopg

    from carnet.capture import services

    save(capture, values={"weight": 70})
    locked, release = threading.Event(), threading.Event()
    record = services.audit_record_many

    def held(**kwargs: Any) -> Any:
        locked.set()  # the form instance is locked; the chain is not yet
        assert release.wait(10)
        return record(**kwargs)

    monkeypatch.setattr(services, "audit_record_many", held)

    def write() -> None:
        try:
            save(capture, base=1, values={"weight": 71})
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert locked.wait(10)
        settings = connection.settings_dict
        other = psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"],
            password=settings["PASSWORD"],
            dbname=settings["NAME"],
        )
        with other, other.cursor() as cursor:
            for table, pk in (
                ("studies_study", capture.world.study.pk),
                ("subjects_subject", capture.subject.pk),
            ):
                # NOWAIT: fails at once if the save holds the row.
                cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                assert cursor.fetchone() == (pk,)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                cursor.execute(
                    "SELECT id FROM capture_forminstance WHERE subject_id = %s FOR UPDATE NOWAIT",
                    [capture.subject.pk],
                )
    finally:
        release.set()
        writer.join()
    assert stored(capture)[("weight", 0)] == "71"


def test_another_sites_staff_cannot_save_and_a_monitor_cannot_enter(capture: Capture) -> None:
    with pytest.raises(PermissionDenied):
        save(capture, user=capture.other_site, values={"weight": 70})
    with pytest.raises(PermissionDenied):
        save(capture, user=capture.monitor, values={"weight": 70})
    assert not ItemValue.objects.exists()


def test_a_form_not_done_takes_a_reason_and_refuses_values(capture: Capture) -> None:
    with pytest.raises(FormErrors):
        form_mark_not_done(
            actor=capture.entry,
            subject=capture.subject,
            event="baseline",
            form="lesions",
            base_version=0,
            reason=" ",
        )
    instance = form_mark_not_done(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="lesions",
        base_version=0,
        reason="scan not performed",
    )
    assert instance.status == "not_done"
    with pytest.raises(ValidationError, match="marked not done"):
        save(capture, form="lesions", base=1, rows={"target": {1: {"diameter": 12}}})


def test_a_form_not_done_is_reopened_with_a_reason_and_keeps_its_values(
    capture: Capture,
) -> None:
    save(capture, form="lesions", rows={"target": {1: {"diameter": 12}}})
    where = {"subject": capture.subject, "event": "baseline", "form": "lesions"}
    form_mark_not_done(actor=capture.entry, **where, base_version=1, reason="scan lost")
    with pytest.raises(FormErrors, match="reason"):
        form_reopen(actor=capture.entry, **where, base_version=2, reason=" ")
    with pytest.raises(PermissionDenied):
        form_reopen(actor=capture.other_site, **where, base_version=2, reason="found it")
    with pytest.raises(FormConflict):
        form_reopen(actor=capture.entry, **where, base_version=1, reason="found it")
    instance = form_reopen(actor=capture.entry, **where, base_version=2, reason="scan found")
    assert (instance.status, instance.version, instance.not_done_reason) == ("in_progress", 3, "")
    assert stored(capture, form="lesions") == {("diameter", 1): "12", ("sum_diameters", 0): "12"}
    event = AuditEvent.objects.filter(action="form.status_changed").order_by("seq").last()
    assert event is not None
    assert (event.old, event.new["status"], event.reason) == (
        {"status": "not_done"},
        "in_progress",
        "scan found",
    )
    with pytest.raises(ValidationError, match="nothing to reopen"):
        form_reopen(actor=capture.entry, **where, base_version=3, reason="again")
    save(capture, form="lesions", base=3, rows={"target": {2: {"diameter": 15}}})


def test_data_entered_in_test_mode_is_kept_apart(capture: Capture) -> None:
    # Test data belongs to a test patient (one included in test mode), never to a production one.
    from dataclasses import replace

    from carnet.studies.models import Study
    from tests.capture.conftest import include

    study = capture.world.study
    Study.objects.filter(pk=study.pk).update(mode="test")
    study.refresh_from_db()
    tested = replace(capture, subject=include(capture.world, capture.entry))
    save(tested, values={"weight": 70})
    Study.objects.filter(pk=study.pk).update(mode="production")
    study.refresh_from_db()
    capture.subject.study.refresh_from_db()
    save(capture, values={"weight": 80})
    assert sorted(FormInstance.objects.values_list("environment", flat=True)) == [
        "production",
        "test",
    ]
    tested.subject.study.refresh_from_db()
    with pytest.raises(ValidationError, match="test patient"):
        save(tested, base=1, values={"weight": 71})


def test_every_value_at_every_moment_can_be_rebuilt_from_the_audit_trail(capture: Capture) -> None:
    snapshots = []
    steps = [
        {"values": {"weight": 70, "height": 170, "smoker": 1, "packs": 10}},
        {"values": {"weight": "71,5", "packs": None}},
        {"values": {"smoker": 0, "height": Missing("UNK")}},
    ]
    version = 0
    for step in steps:
        version = save(capture, base=version, **step).form_instance.version
        snapshots.append((AuditEvent.objects.order_by("-id").first().pk, dict(_database_state())))
    for last_event, expected in snapshots:
        assert _replayed(last_event) == expected
    assert audit_verify(chain="study:MINI").intact


def _database_state() -> dict[tuple[int, str, int], tuple[str, str, bool]]:
    return {
        (v.form_instance_id, v.item, v.row): (v.text, v.missing_code, v.removed)
        for v in ItemValue.objects.all()
    }


def _replayed(up_to: int) -> dict[tuple[int, str, int], tuple[str, str, bool]]:
    state: dict[tuple[int, str, int], tuple[str, str, bool]] = defaultdict(lambda: ("", "", False))
    for event in AuditEvent.objects.filter(action="item.changed", pk__lte=up_to).order_by(
        "chain", "seq"
    ):
        instance_id, item, row = event.target_id.split(":")
        state[(int(instance_id), item, int(row))] = (
            event.new["text"],
            event.new["missing"],
            event.new["removed"],
        )
    return dict(state)


def test_a_captured_date_moves_the_date_of_last_news_but_never_into_the_future(
    capture: Capture,
) -> None:
    from datetime import date

    from carnet.subjects.models import Subject

    def last_news() -> date:
        return Subject.objects.get(pk=capture.subject.pk).last_news_on

    assert last_news() == date(2026, 1, 5)
    save(capture, values={"vs_date": "02/03/2026"})
    assert last_news() == date(2026, 3, 2)
    save(capture, base=1, values={"vs_date": "2099-01-01"})
    assert last_news() == date(2026, 1, 5)  # a date in the future is not news


def test_after_a_withdrawal_from_follow_up_only_earlier_data_may_be_entered(
    capture: Capture,
) -> None:
    from datetime import date

    from carnet.subjects.services import consent_withdraw

    consent_withdraw(
        actor=capture.entry,
        subject=capture.subject,
        kind="follow_up",
        withdrawn_on=date(2026, 3, 1),
    )
    capture.subject.refresh_from_db()
    earlier = save(capture, values={"vs_date": "2026-02-10", "weight": 70})
    assert earlier.form_instance.version == 1
    with pytest.raises(ValidationError, match="withdrew from follow-up on 2026-03-01"):
        save(capture, base=1, values={"vs_date": "2026-03-15"})
    with pytest.raises(ValidationError, match="withdrew from follow-up"):
        save(capture, form="lesions", rows={"target": {1: {"diameter": 20}}})  # undated: today
    with translation.override("fr"), pytest.raises(ValidationError) as in_french:
        save(capture, base=1, values={"vs_date": "2026-03-15"})
    assert str(in_french.value) == (
        "le patient s'est retiré du suivi le 2026-03-01 : seules les données datées de ce jour "
        "ou avant peuvent être saisies"
    )
