"""The laboratory listing: ranges chosen per site, sex and date, converted to the value's unit,
L/H flags and CTCAE grades, scoped to the actor's sites and masked by the blinding policy."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.blinding import HIDDEN
from carnet.accounts.permissions import PermissionDenied
from carnet.laboratory.selectors import LabFilters, lab_listing
from tests.laboratory.conftest import Lab

pytestmark = pytest.mark.django_db


def test_a_value_shows_its_range_flag_and_grade(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), neutrophils="0.8", creatinine="70")
    rows = {row.analyte: row for row in lab_listing(lab.sophie, study=lab.study)}
    neutrophils = rows["neutrophils"]
    assert (neutrophils.low, neutrophils.high, neutrophils.flag) == ("1.8", "7.5", "L")
    assert (neutrophils.grade, neutrophils.term) == (3, "Neutrophil count decreased")
    assert (neutrophils.converted, neutrophils.converted_unit) == ("800", "/mm³")
    # A woman's creatinine range, written in mg/dL, shown in the item's µmol/L.
    creatinine = rows["creatinine"]
    assert (creatinine.low, creatinine.high) == ("45.08", "83.98")
    assert (creatinine.flag, creatinine.grade) == ("", 0)
    assert (creatinine.converted, creatinine.converted_unit) == ("0.7918", "mg/dL")


def test_a_site_of_its_own_has_its_own_range_and_the_form_uln_comes_first(lab: Lab) -> None:
    man = lab.include(lab.marc, lab.site_b, sex="M", age=50)
    lab.sample(lab.marc, man, lab_date=date(2026, 1, 5), creatinine="130", alt="100", alt_uln="40")
    rows = {row.analyte: row for row in lab_listing(lab.dora, study=lab.study)}
    # Site 02's own range (50-120 µmol/L) before the study-wide one for men.
    assert (rows["creatinine"].low, rows["creatinine"].high, rows["creatinine"].flag) == (
        "50",
        "120",
        "H",
    )
    assert rows["creatinine"].grade == 1
    # ALT has no range loaded: the ULN the site entered on the form grades it (100 > 2.5 x 40).
    assert (rows["alt"].high, rows["alt"].flag, rows["alt"].grade) == ("40", "H", 1)


def test_a_later_creatinine_is_graded_against_the_baseline_too(lab: Lab) -> None:
    man = lab.include(lab.alice, lab.site_a, sex="M", age=50)
    lab.sample(lab.alice, man, lab_date=date(2026, 1, 5), creatinine="50")
    lab.sample(lab.alice, man, event="cycle", lab_date=date(2026, 1, 19), creatinine="160")
    cycle = [row for row in lab_listing(lab.dora, study=lab.study) if row.event == "cycle"]
    # 160 µmol/L is 1.55 x the men's ULN (1.17 mg/dL = 103.4 µmol/L): grade 2 by the ULN;
    # 3.2 x the baseline of 50: grade 3.
    assert [(row.analyte, row.grade) for row in cycle] == [("creatinine", 3)]


def test_a_value_without_a_date_has_no_range_and_no_grade_below_the_absolute_bounds(
    lab: Lab,
) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, neutrophils="1.7")
    (row,) = lab_listing(lab.dora, study=lab.study)
    assert (row.low, row.high, row.flag, row.grade) == ("", "", "", None)


def test_the_listing_is_scoped_to_the_actors_sites(lab: Lab) -> None:
    at_a = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    at_b = lab.include(lab.marc, lab.site_b, sex="M", age=70)
    lab.sample(lab.alice, at_a, lab_date=date(2026, 1, 5), neutrophils="0.4")
    lab.sample(lab.marc, at_b, lab_date=date(2026, 1, 5), neutrophils="0.4")
    assert {row.subject for row in lab_listing(lab.alice, study=lab.study)} == {at_a.identifier}
    assert {row.subject for row in lab_listing(lab.marc, study=lab.study)} == {at_b.identifier}
    assert {row.site for row in lab_listing(lab.sophie, study=lab.study)} == {"01", "02"}
    only_b = lab_listing(lab.sophie, study=lab.study, filters=LabFilters(site="02"))
    assert {row.subject for row in only_b} == {at_b.identifier}


def test_an_outsider_sees_nothing(lab: Lab) -> None:
    from tests.accounts.personas import person

    with pytest.raises(PermissionDenied):
        lab_listing(person("olga"), study=lab.study)


def test_filters_on_grade_and_flag(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), neutrophils="0.4", creatinine="70")
    graded = lab_listing(lab.dora, study=lab.study, filters=LabFilters(grade_min=3))
    assert [(row.analyte, row.grade) for row in graded] == [("neutrophils", 4)]
    normal = lab_listing(lab.dora, study=lab.study, filters=LabFilters(flag="N"))
    assert [row.analyte for row in normal] == ["creatinine"]
    low = lab_listing(
        lab.dora, study=lab.study, filters=LabFilters(flag="L", analyte="neutrophils")
    )
    assert [row.analyte for row in low] == ["neutrophils"]


def test_a_blinded_person_never_reads_an_arm_revealing_value(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), drug_level="12.5")
    (blinded,) = lab_listing(lab.ben, study=lab.study)
    assert (blinded.value, blinded.converted, blinded.flag, blinded.grade) == (
        HIDDEN,
        HIDDEN,
        HIDDEN,
        None,
    )
    # Filtering on the flag tells nothing either.
    assert not lab_listing(lab.ben, study=lab.study, filters=LabFilters(flag="H")).rows
    (unblinded,) = lab_listing(lab.una, study=lab.study)
    assert (unblinded.value, unblinded.flag) == ("12.5", "H")


def test_pages_of_the_listing(lab: Lab) -> None:
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    for cycle in range(1, 4):
        lab.sample(
            lab.alice,
            woman,
            event="cycle",
            occurrence=cycle,
            lab_date=date(2026, 1, 5 + cycle),
            neutrophils="2",
        )
    page = lab_listing(lab.dora, study=lab.study, page=2, per_page=2)
    assert (page.total, page.number, len(page.rows), page.pages) == (3, 2, 1, 2)


def test_the_range_follows_the_age_band_and_the_sampling_date(
    lab: Lab, system_actor: object
) -> None:
    from carnet.laboratory.services import lab_file_load

    lab_file_load(
        actor=system_actor,  # type: ignore[arg-type]
        study=lab.study,
        content=(
            b"analyte,age_min,age_max,from,to,unit,low,high\n"
            b"neutrophils,0,18,2020-01-01,,G/L,1.5,8.5\n"
            b"neutrophils,18,,2020-01-01,2025-12-31,G/L,1.8,7.5\n"
            b"neutrophils,18,,2026-01-01,,G/L,2.0,7.0\n"
        ),
        file_name="ranges.csv",
    )
    young = lab.include(lab.alice, lab.site_a, sex="F", age=17)
    adult = lab.include(lab.alice, lab.site_a, sex="M", age=40)
    lab.sample(lab.alice, young, lab_date=date(2026, 1, 5), neutrophils="1.6")
    lab.sample(lab.alice, adult, lab_date=date(2025, 12, 20), neutrophils="1.9")
    lab.sample(lab.alice, adult, event="cycle", lab_date=date(2026, 1, 3), neutrophils="1.9")
    rows = [
        (r.subject, r.sampled_on, r.low, r.flag) for r in lab_listing(lab.dora, study=lab.study)
    ]
    assert rows == [
        (young.identifier, date(2026, 1, 5), "1.5", ""),
        (adult.identifier, date(2025, 12, 20), "1.8", ""),
        (adult.identifier, date(2026, 1, 3), "2", "L"),
    ]


def test_a_unit_read_from_the_form_converts_the_range(lab: Lab, system_actor: object) -> None:
    from carnet.laboratory.services import lab_file_load
    from tests.laboratory.conftest import RANGES_FILE

    text = RANGES_FILE.read_text(encoding="utf-8").replace(
        "{item: creatinine, analyte: creatinine, unit: µmol/L}",
        "{item: creatinine, analyte: creatinine, unit_item: comment}",
    )
    lab_file_load(
        actor=system_actor,  # type: ignore[arg-type]
        study=lab.study,
        content=text.encode(),
        file_name="ranges.yaml",
    )
    woman = lab.include(lab.alice, lab.site_a, sex="F", age=60)
    lab.sample(lab.alice, woman, lab_date=date(2026, 1, 5), creatinine="1.5", comment="mg/dL")
    (row,) = lab_listing(lab.dora, study=lab.study)
    # 1.5 mg/dL against the women's 0.51-0.95 mg/dL: 1.58 x ULN, grade 2; 132.6 µmol/L.
    assert (row.unit, row.high, row.flag, row.grade) == ("mg/dL", "0.95", "H", 2)
    assert (row.converted, row.converted_unit) == ("132.6", "µmol/L")
