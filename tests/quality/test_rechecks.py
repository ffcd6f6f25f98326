"""Whole-study re-checks: the column evaluator over the database opens what saving would open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carnet.audit.models import AuditEvent
from carnet.capture.models import CheckResult, FormInstance
from carnet.capture.services import form_save
from carnet.quality.rechecks import checks_recheck
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_publish
from tests.accounts.personas import ADMIN, FIXTURE
from tests.capture.conftest import Capture, capture  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

# Soft checks of every shape a re-check must read as the save does: within a form, across
# events (`baseline.weight`), across forms of one event (lesions read the vitals' weight), over
# a repeating group with an aggregate and with count(condition).
CHECKS = {
    "vitals": [
        ("bp_order", "sbp > dbp", "SBP must exceed DBP"),
        ("weight_kept", "weight >= baseline.weight * 0.9", "Weight lost"),
        ("vs_date_past", "vs_date <= today()", "In the future"),
    ],
    "lesions": [
        ("few_large", "count(diameter >= 100) <= 1", "Several large lesions"),
        ("total_small", "sum(diameter) < 250", "Large total"),
        ("weighed", "weight > 50", "Light patient"),
    ],
}


def checks_yaml(form: str) -> str:
    lines = ["    checks:"]
    for name, expression, message in CHECKS[form]:
        lines.append(
            f'      - {{name: {name}, expression: "{expression}", severity: soft,'
            f" message: {{en: {message}, fr: {message}}}}}"
        )
    return "\n".join(lines) + "\n"


def amended(tmp_path: Path) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    old_checks = text[
        text.index("    checks:\n      - {name: bp_order") : text.index("  - name: lesions")
    ]
    text = text.replace(old_checks, checks_yaml("vitals"))
    anchor = '            calculation: "sum(diameter)"\n'
    text = text.replace(anchor, anchor + checks_yaml("lesions"))
    path = tmp_path / "mini.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def publish(c: Capture, path: Path) -> None:
    study_load(actor=ADMIN, study_file=study_file_read(path), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=c.world.study)
    c.world.study.refresh_from_db()
    c.subject.study.refresh_from_db()


@pytest.fixture
def checked(capture: Capture, tmp_path: Path) -> Capture:  # noqa: F811
    publish(capture, amended(tmp_path))
    return capture


def save(
    c: Capture, subject: Any, event: str, form: str, occurrence: int = 1, **kwargs: Any
) -> None:
    instance = FormInstance.objects.filter(
        subject=subject, event=event, form=form, occurrence=occurrence
    ).first()
    form_save(
        actor=c.entry,
        subject=subject,
        event=event,
        occurrence=occurrence,
        form=form,
        base_version=instance.version if instance else 0,
        **kwargs,
    )


def open_results(c: Capture) -> set[tuple[int, str]]:
    return set(
        CheckResult.objects.filter(
            form_instance__subject__study=c.world.study, open=True
        ).values_list("form_instance_id", "check_name")
    )


def test_a_recheck_of_saved_forms_changes_nothing_and_counts_per_rule(checked: Capture) -> None:
    c = checked
    save(c, c.subject, "baseline", "vitals", values={"weight": "80", "sbp": 110, "dbp": 120})
    save(c, c.subject, "cycle", "vitals", values={"weight": "70", "sbp": 120, "dbp": 80})
    save(
        c,
        c.subject,
        "baseline",
        "lesions",
        rows={"target": {1: {"diameter": 120}, 2: {"diameter": 150}}},
    )
    before = open_results(c)
    names = {name for _fi, name in before}
    assert names == {"bp_order", "weight_kept", "few_large", "total_small"}

    outcome = checks_recheck(actor=ADMIN, study=c.world.study, reason="monthly review")

    assert (outcome.opened, outcome.closed) == (0, 0)
    assert open_results(c) == before
    assert outcome.rules["few_large"].firing == 1
    assert outcome.rules["weighed"].firing == 0
    event = AuditEvent.objects.filter(action="checks.rechecked").get()
    assert event.reason == "monthly review"
    assert {rule["check"]: rule["firing"] for rule in event.new["rules"]}["bp_order"] == 1


def test_a_new_rule_opens_its_results_once_and_a_second_run_opens_nothing(
    capture: Capture,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    c = capture
    save(c, c.subject, "baseline", "vitals", values={"weight": "45", "sbp": 110, "dbp": 120})
    save(c, c.subject, "baseline", "lesions", rows={"target": {1: {"diameter": 20}}})
    assert open_results(c) == {(FormInstance.objects.get(form="vitals").pk, "bp_order")}
    publish(c, amended(tmp_path))

    first = checks_recheck(actor=ADMIN, study=c.world.study)
    second = checks_recheck(actor=ADMIN, study=c.world.study)

    lesions = FormInstance.objects.get(form="lesions").pk
    assert (first.opened, first.closed) == (1, 0)
    assert first.rules["weighed"].opened == 1
    assert (lesions, "weighed") in open_results(c)
    assert (second.opened, second.closed) == (0, 0)


def test_a_rule_that_no_longer_fires_is_closed(capture: Capture, tmp_path: Path) -> None:  # noqa: F811
    c = capture
    save(c, c.subject, "baseline", "vitals", values={"weight": "45", "sbp": 110, "dbp": 120})
    publish(c, amended(tmp_path).with_name("mini.yaml"))
    text = (tmp_path / "mini.yaml").read_text(encoding="utf-8")
    (tmp_path / "mini.yaml").write_text(text.replace('"sbp > dbp"', '"sbp > 0"'), encoding="utf-8")
    publish(c, tmp_path / "mini.yaml")

    outcome = checks_recheck(actor=ADMIN, study=c.world.study)

    assert outcome.rules["bp_order"].closed == 1
    assert not CheckResult.objects.get(check_name="bp_order").open


def test_an_acknowledged_firing_is_not_opened_again(capture: Capture, tmp_path: Path) -> None:  # noqa: F811
    c = capture
    save(c, c.subject, "baseline", "vitals", values={"weight": "45", "sbp": 130, "dbp": 80})
    save(c, c.subject, "baseline", "lesions", rows={"target": {1: {"diameter": 20}}})
    publish(c, amended(tmp_path))
    lesions = FormInstance.objects.get(form="lesions").pk

    outcome = checks_recheck(
        actor=ADMIN, study=c.world.study, acknowledged={(lesions, "weighed", 0)}
    )

    assert (outcome.opened, outcome.acknowledged) == (0, 1)
    assert open_results(c) == set()


# --- the page: a button for data managers, a progress bar, the counts per rule ---------------


def test_a_data_manager_starts_a_recheck_from_the_page_and_follows_its_progress(
    checked: Capture, django_capture_on_commit_callbacks: Any
) -> None:
    from django.test import Client
    from django.urls import reverse
    from django_tasks_db.models import DBTaskResult

    from carnet.accounts.roles import Role
    from carnet.quality.recheck_models import RecheckRun
    from carnet.quality.recheck_tasks import recheck_run
    from tests.accounts.personas import person
    from tests.web.helpers import enrol

    c = checked
    save(c, c.subject, "baseline", "vitals", values={"weight": "45", "sbp": 110, "dbp": 120})
    manager = person("dora", study=c.world.study, role=Role.DATA_MANAGER, sites=[None])
    client = Client()
    client.force_login(manager)
    enrol(client)  # a data manager signs in with a second factor
    page = reverse("quality:rechecks", args=["MINI"])

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(page, {"reason": "after the amendment"})
    assert answer.status_code == 302
    run = RecheckRun.objects.get()
    assert DBTaskResult.objects.filter(args_kwargs__args=[run.pk]).count() == 1
    queued = client.get(page)
    assert b'hx-trigger="every 1s"' in queued.content
    assert b'value="0"' in queued.content

    recheck_run.call(run.pk)

    progress = client.get(reverse("quality:recheck_progress", args=["MINI", run.pk]))
    assert b"hx-trigger" not in progress.content  # done: the page stops asking
    assert b'value="100"' in progress.content
    assert b"<td>bp_order</td><td>vitals</td><td>1</td><td>0</td><td>0</td>" in progress.content
    run.refresh_from_db()
    assert (run.status, run.forms_done, run.forms_total) == ("done", 6, 6)


def test_site_staff_cannot_start_a_recheck(checked: Capture) -> None:
    from django.test import Client
    from django.urls import reverse

    from carnet.quality.recheck_models import RecheckRun

    client = Client()
    client.force_login(checked.entry)
    page = reverse("quality:rechecks", args=["MINI"])
    assert client.get(page).status_code == 404
    assert client.post(page, {"reason": "try"}).status_code == 404
    assert not RecheckRun.objects.exists()


def test_a_data_manager_of_one_site_cannot_recheck_the_whole_study(checked: Capture) -> None:
    """A whole-study re-check opens and closes queries at every site: a data manager whose
    membership covers one site only may neither see the page nor ask for one."""
    from django.test import Client
    from django.urls import reverse

    from carnet.accounts.permissions import PermissionDenied
    from carnet.accounts.roles import Role
    from carnet.quality.recheck_models import RecheckRun
    from carnet.quality.rechecks import recheck_request
    from tests.accounts.personas import person
    from tests.web.helpers import enrol

    w = checked.world
    of_b = person("dm_b", study=w.study, role=Role.DATA_MANAGER, sites=[w.site_b])
    client = Client()
    client.force_login(of_b)
    enrol(client)  # a data manager signs in with a second factor
    page = reverse("quality:rechecks", args=["MINI"])
    assert client.get(page).status_code == 404
    assert client.post(page, {"reason": "try"}).status_code == 404
    with pytest.raises(PermissionDenied):
        recheck_request(actor=of_b, study=w.study)
    assert not RecheckRun.objects.exists()
    whole = person("dm_all", study=w.study, role=Role.DATA_MANAGER, sites=[None])
    client = Client()
    client.force_login(whole)
    enrol(client)
    assert client.get(page).status_code == 200


def test_the_command_prints_the_counts_per_rule_and_ends_its_progress_bar(
    checked: Capture,
) -> None:
    import io

    from django.core.management import call_command

    c = checked
    save(c, c.subject, "baseline", "vitals", values={"weight": "45", "sbp": 110, "dbp": 120})
    out = io.StringIO()

    call_command("checks", "run", "MINI", "--reason", "monthly review", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "[##############################] 6/6"
    assert lines[2].split() == ["bp_order", "vitals", "1", "0", "0"]
    assert lines[-1].startswith("1 forms and 3 values checked in ")
    assert lines[-1].endswith(": 0 results opened, 0 closed.")


def test_results_on_rows_of_a_repeating_group_are_the_checks_results(checked: Capture) -> None:
    """The save places a check over a repeating group on the rows that fail it; the re-check,
    which evaluates the form as a whole, neither opens it again on the form nor leaves it open
    on a row once the check no longer fires."""
    c = checked
    save(c, c.subject, "baseline", "lesions", rows={"target": {1: {"diameter": 20}}})
    lesions = FormInstance.objects.get(form="lesions")
    stale = CheckResult.objects.create(
        form_instance=lesions, check_name="few_large", row=1, message_en="x", message_fr="x"
    )

    outcome = checks_recheck(actor=ADMIN, study=c.world.study)

    stale.refresh_from_db()
    assert not stale.open  # one lesion of 20 mm: the check no longer fires
    assert outcome.closed == 1
    save(
        c,
        c.subject,
        "baseline",
        "lesions",
        rows={"target": {1: {"diameter": 150}, 2: {"diameter": 150}}},
        reason="measured again",
    )
    fired = CheckResult.objects.get(form_instance=lesions, check_name="few_large", open=True)
    assert fired.row == 0  # each lesion alone passes: the save questions the whole form
    CheckResult.objects.filter(pk=fired.pk).update(row=2)  # as if placed on its second row

    outcome = checks_recheck(actor=ADMIN, study=c.world.study)

    # The re-check places it where the save does: row 2 closes, the form (row 0) opens.
    assert (outcome.opened, outcome.closed) == (1, 1)
    assert rows_open(c, "few_large") == {(lesions.pk, 0)}
    assert checks_recheck(actor=ADMIN, study=c.world.study).opened == 0


def rows_open(c: Capture, check: str) -> set[tuple[int, int]]:
    return set(
        CheckResult.objects.filter(
            form_instance__subject__study=c.world.study, open=True, check_name=check
        ).values_list("form_instance_id", "row")
    )


def test_a_new_rule_over_a_repeating_group_opens_on_the_rows_that_fail_it(
    capture: Capture,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    """A re-check opens a new firing of a check over a repeating group on each row that fails
    it, as the save would: the save that follows finds them and changes nothing."""
    c = capture
    save(c, c.subject, "baseline", "vitals", values={"weight": "80", "sbp": 130, "dbp": 80})
    rows = {1: {"diameter": 20}, 2: {"diameter": 120}, 3: {"diameter": 30}, 4: {"diameter": 140}}
    save(c, c.subject, "baseline", "lesions", rows={"target": rows})
    path = amended(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('"sum(diameter) < 250"', '"max(diameter) < 100"'), encoding="utf-8"
    )
    publish(c, path)
    lesions = FormInstance.objects.get(form="lesions").pk

    outcome = checks_recheck(actor=ADMIN, study=c.world.study)

    assert rows_open(c, "total_small") == {(lesions, 2), (lesions, 4)}
    assert outcome.rules["total_small"].opened == 2
    # Several large lesions: no single row fails count(diameter >= 100) <= 1, the form does.
    assert rows_open(c, "few_large") == {(lesions, 0)}
    before = set(CheckResult.objects.filter(open=True).values_list("pk", flat=True))
    save(c, c.subject, "baseline", "lesions", rows={"target": rows}, reason="same values")
    assert set(CheckResult.objects.filter(open=True).values_list("pk", flat=True)) == before
    second = checks_recheck(actor=ADMIN, study=c.world.study)
    assert (second.opened, second.closed) == (0, 0)
