"""Every input of a report comes from its cut-off: a laboratory value corrected, normal ranges
loaded, a term coded or a screening entry added after the cut-off leave the report of that
cut-off as it was (a cut-off taken after them shows them)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.audit.services import SystemActor
from carnet.capture.models import FormInstance
from carnet.capture.services import form_save
from carnet.demo.patients import SITE_STAFF
from carnet.interop.services import cutoff_create
from carnet.laboratory.services import lab_file_load
from carnet.reports.selectors import report_of
from carnet.subjects.models import Subject
from tests.reports.conftest import Demo

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _shift(demo: Demo, cutoff: object) -> dict[str, object]:
    report, _source = report_of(
        actor=demo.unblinded,
        study=demo.phase3,
        cutoff=cutoff,  # type: ignore[arg-type]
        kind="safety",
    )
    return report.data["lab_shift"]


def _treated_laboratory_form(demo: Demo) -> FormInstance:
    """Return a laboratory form after the first dose of a treated subject, sampled before the
    cut-off date, that grades 0 for platelets (so that 10 G/L is a grade-4 change)."""
    from carnet.reports.datasets import study_analysis

    analysis = study_analysis(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, unblinded=True
    )
    treated = analysis.dataset.frame.filter(pl.col("treated") == 1).select("subject", "first_dose")
    graded = analysis.dataset.laboratory.filter(pl.col("analyte") == "platelets").join(
        treated, on="subject"
    )
    candidates = graded.filter(
        (pl.col("sampled_on") > pl.col("first_dose")) & (pl.col("grade") == 0)
    ).sort("subject", "sampled_on")
    for subject, sampled_on in candidates.select("subject", "sampled_on").iter_rows():
        instances = FormInstance.objects.filter(
            subject__study=demo.phase3,
            subject__identifier=subject,
            form="laboratory",
            values__item="lab_date",
            values__day=sampled_on,
        ).distinct()
        for instance in instances:
            return instance
    raise AssertionError("the demo has a treated subject with a laboratory form")


def _correct_platelets(instance: FormInstance) -> None:
    subject = Subject.objects.select_related("site").get(pk=instance.subject_id)
    entry = User.objects.get(username=SITE_STAFF[subject.site.code])
    form_save(
        actor=entry,
        subject=subject,
        event=instance.event,
        occurrence=instance.occurrence,
        form=instance.form,
        repeat=instance.repeat,
        base_version=instance.version,
        values={"platelets": 10},
        reason="Transcription error corrected",
    )


def test_a_laboratory_value_corrected_after_the_cutoff_leaves_its_shift_tables(
    demo: Demo,
) -> None:
    before = _shift(demo, demo.cutoff3)
    assert before["platelets"], "the demo grades platelets"
    _correct_platelets(_treated_laboratory_form(demo))
    assert _shift(demo, demo.cutoff3) == before
    # A cut-off taken now sees the grade-4 value.
    later = cutoff_create(
        actor=demo.unblinded,
        study=demo.phase3,
        name="IA1-BIS",
        reason="after the correction",
        cut_on=demo.cutoff3.cut_on,
    )
    now = _shift(demo, later)
    assert now != before
    worst_4 = sum(bases[base]["4"] for bases in now["platelets"].values() for base in bases)  # type: ignore[attr-defined]
    worst_4_before = sum(
        bases[base]["4"]
        for bases in before["platelets"].values()  # type: ignore[attr-defined]
        for base in bases
    )
    assert worst_4 == worst_4_before + 1


RANGES = b"""date_item: lab_date
age_item: age
baseline_event: baseline
items:
  - {item: platelets, analyte: platelets, unit: G/L}
ranges:
  - {analyte: platelets, unit: G/L, low: 900, high: 2000, from: 2015-01-01}
"""


def test_normal_ranges_loaded_after_the_cutoff_leave_its_shift_tables(
    demo: Demo, system_actor: SystemActor
) -> None:
    before = _shift(demo, demo.cutoff3)
    lab_file_load(
        actor=system_actor,
        study=demo.phase3,
        content=RANGES,
        file_name="ranges-after.yaml",
    )
    assert _shift(demo, demo.cutoff3) == before
    later = cutoff_create(
        actor=demo.unblinded,
        study=demo.phase3,
        name="IA1-RANGES",
        reason="after the new ranges",
        cut_on=demo.cutoff3.cut_on,
    )
    # The new file maps platelets only, with a range every value falls under.
    assert set(_shift(demo, later)) == {"platelets"}


def test_a_screening_entry_added_after_the_cutoff_leaves_its_consort_counts(
    demo: Demo, system_actor: SystemActor
) -> None:
    from carnet.subjects.services import screening_entry_add

    report, _source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="conduct"
    )
    site = Subject.objects.filter(study=demo.phase3).select_related("site").first().site  # type: ignore[union-attr]
    screening_entry_add(
        actor=system_actor,
        study=demo.phase3,
        site=site,
        screened_on=date(2026, 11, 1),
        age=60,
        sex="F",
        reason_not_included="Declined to take part",
    )
    again, _source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, kind="conduct"
    )
    assert again.data["consort"] == report.data["consort"]


def test_a_term_coded_after_the_cutoff_is_not_in_its_soc_pt_table(
    demo: Demo, system_actor: SystemActor, tmp_path: Path
) -> None:
    from carnet.coding.models import CodedTerm
    from carnet.coding.services import coding_target_set, meddra_load, term_code
    from carnet.reports.datasets import study_analysis
    from tests.accounts.personas import person
    from tests.coding.dictionary import write_meddra

    meddra = meddra_load(actor=system_actor, folder=write_meddra(tmp_path / "m"), version="1.0")
    coding_target_set(
        actor=system_actor,
        study=demo.phase3,
        form="adverse_event",
        item="ae_term",
        dictionary=meddra,
    )
    # A treatment-emergent event renamed to a verbatim no dictionary entry matches: uncoded.
    analysis = study_analysis(
        actor=demo.unblinded, study=demo.phase3, cutoff=demo.cutoff3, unblinded=True
    )
    emergent = (
        analysis.dataset.adverse_events.join(
            analysis.dataset.frame.filter(pl.col("treated") == 1).select("subject", "first_dose"),
            on="subject",
        )
        .filter(pl.col("onset") > pl.col("first_dose"))
        .sort("subject", "onset")
    )
    subject_id, term, onset = emergent.select("subject", "term", "onset").row(0)
    instance = FormInstance.objects.filter(
        subject__study=demo.phase3,
        subject__identifier=subject_id,
        form="adverse_event",
        values__item="ae_start",
        values__day=onset,
    ).filter(values__item="ae_term", values__text=term)[0]
    subject = Subject.objects.select_related("site").get(pk=instance.subject_id)
    form_save(
        actor=User.objects.get(username=SITE_STAFF[subject.site.code]),
        subject=subject,
        event=instance.event,
        occurrence=instance.occurrence,
        form=instance.form,
        repeat=instance.repeat,
        base_version=instance.version,
        values={"ae_term": "Odd thing"},
        reason="Verbatim as written in the source",
    )
    cutoff = cutoff_create(
        actor=demo.unblinded,
        study=demo.phase3,
        name="IA1-CODING",
        reason="coding",
        cut_on=demo.cutoff3.cut_on,
    )
    before, _source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=cutoff, kind="safety"
    )
    assert not before.data.get("soc_pt")
    coder = person("cora", study=demo.phase3, role=Role.CODER)
    term_code(actor=coder, term=CodedTerm.objects.get(verbatim="Odd thing"), code="94000003")
    after, _source = report_of(
        actor=demo.unblinded, study=demo.phase3, cutoff=cutoff, kind="safety"
    )
    assert after.data.get("soc_pt") == before.data.get("soc_pt")
