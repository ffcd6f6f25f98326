"""What the DSMB report reads of SCALE-CRC's patients: randomisation, tumour assessments, adverse
events, end of treatment and follow-up, added after the forms `demo.scale` writes.

The scale study's first pass (`demo.scale._patient`) writes the casebook up to the last treatment
cycle without an arm. This second pass gives each patient of a batch who has no allocation yet:

- the randomisation form (date, stratification ECOG), then the allocation through
  `subject_randomise` (MAINTAIN-CRC's minimisation on the site and ECOG, the patient's own seeded
  draws, at 10:00 on the day of inclusion), whose kit of cycle 1 comes from the site's pharmacy
  stock (`demo.pharmacy.stock_ensure`: shipments received through the pharmacy's services), then
  the allocation number copied into the form;
- the course of the disease with an arm effect (median progression-free survival 173 days on
  CRN-417 against 122 on placebo, HR about 0.70 as in the protocol; ECOG 1 shortens it):
  imaging every 56 days from randomisation until progression (RECIST time points from the
  baseline's target lesions), adverse events during the cycles (more on CRN-417; grade 3-4 and,
  for some, serious), the end of treatment after the last cycle written by the first pass
  (progression, toxicity or the investigator's decision), follow-up every 91 days with the new
  treatment after progression, death and the end of study;
- the treatment and study statuses through the subjects' services.

The first pass wrote 13 to 16 cycles whatever the course of the disease (it has to stay as it
is: an installation built with it is topped up by this pass), so a patient whose disease
progresses earlier is treated beyond progression until the last cycle written; death comes after
that cycle. Everything is seeded by the patient's number and dated up to yesterday: the same
patients give the same data whether they got both passes in one run or the second one later.
"""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.capture.bulk import FormRecord, forms_import
from carnet.capture.models import ItemValue
from carnet.core.clock import utc_now
from carnet.demo import pharmacy as demo_pharmacy
from carnet.demo.maintain_crc import ANTI_ANGIOGENIC_AES, PLACEBO_AES
from carnet.demo.synthetic import (
    ENTRY_LAG_DAYS,
    SEED,
    AdverseEvent,
    Lesion,
    ae_values,
    exp_days,
    recist,
)
from carnet.randomization.models import Allocation
from carnet.randomization.services import subject_randomise
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.services import subject_change_status, subject_change_treatment
from carnet.subjects.statuses import OffTreatmentReason, StudyStatus

OUTCOMES_REASON = "Synthetic outcomes of the scale study's patients (benchmarks)"
# Median progression-free survival in days by arm (MAINTAIN-CRC's protocol: 4.0 against
# 5.7 months, HR 0.70); ECOG 1 shortens it by this factor.
MEDIAN_PFS = {"experimental": 173, "placebo": 122}
ECOG1_FACTOR = 0.8
# Median survival after progression, in days.
MEDIAN_POST_PROGRESSION = 420
# Chance of an adverse event after a cycle, by arm, and of a grade 3 toxicity stopping the
# treatment after the last cycle when the disease has not progressed.
AE_RATE = {"experimental": 0.22, "placebo": 0.15}
TOXIC_STOP = {"experimental": 0.35, "placebo": 0.15}
# A grade 3-4 event is serious this often: it opens an SAE report (safety's listener), as it
# would at a site; about one patient in twelve has one.
SERIOUS_SHARE = 0.4
NEW_THERAPIES = ("FOLFIRI + aflibercept", "Trifluridine/tipiracil + bevacizumab", "Regorafenib")
OFF_REASONS = {
    1: OffTreatmentReason.PROGRESSION,
    2: OffTreatmentReason.TOXICITY,
    4: OffTreatmentReason.INVESTIGATOR_DECISION,
}


@dataclass
class Casebook:
    """What the first pass wrote of a patient and the second one reads."""

    subject: Subject
    number: int
    ecog: int = 0
    lesions: dict[int, Lesion] = field(default_factory=dict)
    cycles: dict[int, date] = field(default_factory=dict)  # occurrence -> administration day


@dataclass
class Story:
    """A patient's forms after randomisation and their status changes, in date order."""

    forms: list[tuple[str, int, int, str, dict[str, Any], dict[str, Any]]]
    # (day, "treatment" or "study", status, reason)
    statuses: list[tuple[date, str, str, str]]


def casebooks_read(subjects: list[Subject]) -> list[Casebook]:
    """Return the first pass's ECOG, baseline target lesions and cycle days of ``subjects``."""
    books = {
        subject.pk: Casebook(subject, int(subject.screening_number[2:])) for subject in subjects
    }
    wanted = {
        ("baseline", "ecog", "ecog_ps"),
        ("screening", "tumour_baseline", "bl_tl_site"),
        ("screening", "tumour_baseline", "bl_tl_node"),
        ("screening", "tumour_baseline", "bl_tl_diam"),
        ("cycle", "treatment", "adm_date"),
    }
    rows = ItemValue.objects.filter(
        form_instance__subject__in=list(books),
        form_instance__form__in=["ecog", "tumour_baseline", "treatment"],
        item__in=["ecog_ps", "bl_tl_site", "bl_tl_node", "bl_tl_diam", "adm_date"],
        removed=False,
    ).values_list(
        "form_instance__subject_id",
        "form_instance__event",
        "form_instance__occurrence",
        "form_instance__form",
        "item",
        "row",
        "text",
        "day",
    )
    parts: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    # Choices keep their code in the text only: read every number from it.
    for subject_id, event, occurrence, form, item, row, text, day in rows:
        if (event, form, item) not in wanted:
            continue
        book = books[subject_id]
        if item == "ecog_ps":
            book.ecog = int(text)
        elif item == "adm_date":
            if day is not None:
                book.cycles[occurrence] = day
        else:
            parts[(subject_id, row)][item] = int(text)
    for (subject_id, row), lesion in sorted(parts.items()):
        books[subject_id].lesions[row] = Lesion(
            lesion["bl_tl_site"], bool(lesion["bl_tl_node"]), lesion["bl_tl_diam"]
        )
    return sorted(books.values(), key=lambda book: book.number)


def rando_number(allocation: int) -> str | None:
    """Return the allocation number as the randomisation form holds it (R and 4 digits), or
    None when it does not fit: MAINTAIN-CRC's form was designed for 320 patients, and from the
    10,000th allocation on the form stays without its number (incomplete), as it would at a site
    until the form changes."""
    return f"R{allocation:04d}" if allocation < 10_000 else None


def story_of(book: Casebook, *, arm: str, number: str | None, last_day: date) -> Story:
    """Return the patient's course after randomisation on the day of inclusion: forms and
    statuses dated up to ``last_day``, seeded by the patient's number. ``number`` completes the
    randomisation form (None: the form is left as it is)."""
    rng = random.Random(f"{SEED}:SCALE-CRC:{book.number}:outcomes")
    randomised_on = book.subject.included_on
    assert randomised_on is not None
    experimental = arm == "experimental"
    median = MEDIAN_PFS[arm] * (ECOG1_FACTOR if book.ecog == 1 else 1.0)
    progression_day = randomised_on + timedelta(days=exp_days(rng, median))
    death_day = progression_day + timedelta(days=exp_days(rng, MEDIAN_POST_PROGRESSION))
    cycles = sorted(book.cycles.items())
    last_cycle = cycles[-1][1] if cycles else randomised_on
    # The first pass treated every patient up to their last cycle: death comes after it.
    death_day = max(death_day, last_cycle + timedelta(days=rng.randint(20, 60)))
    death_known = death_day + timedelta(days=rng.randint(2, 25)) <= last_day
    forms = Story(forms=[], statuses=[])
    if number is not None:
        forms.forms.append(("baseline", 1, 1, "randomisation", {"rando_number": number}, {}))
    if cycles:
        forms.statuses.append((cycles[0][1], "treatment", "on_treatment", ""))

    progressed_on = _assessments(
        forms, rng, book, randomised_on, progression_day, death_day, last_day
    )

    # Adverse events after the cycles, then the end of treatment after the last one.
    aes = _adverse_events(rng, cycles, arm, last_day)
    eot_day: date | None = None
    eot_reason = 0
    if cycles and last_cycle + timedelta(days=28) <= last_day:
        eot_day = last_cycle + timedelta(days=rng.randint(10, 16))
        if progressed_on is not None and progressed_on <= eot_day:
            eot_reason = 1
        elif rng.random() < TOXIC_STOP[arm]:
            start = last_cycle + timedelta(days=rng.randint(2, 9))
            eot_day, eot_reason = start + timedelta(days=rng.randint(1, 3)), 2
            pool = ANTI_ANGIOGENIC_AES if experimental else PLACEBO_AES
            term = rng.choices([t for t, _w in pool], [w for _t, w in pool])[0]
            end = start + timedelta(days=rng.randint(10, 45))
            relation = rng.choice([3, 4]) if experimental else rng.choice([2, 3])
            aes.append(AdverseEvent(term, 3, start, end, rng.random() < 0.3, relation, 4))
        else:
            eot_reason = 4
    known_until = min(last_day, death_day - timedelta(days=1))
    for repeat, ae in enumerate(aes, 1):
        forms.forms.append(
            ("logs", 1, repeat, "adverse_event", ae_values(ae, known_until, sae_criteria=True), {})
        )
    if eot_day is not None:
        forms.forms.append(
            (
                "end_of_treatment",
                1,
                1,
                "end_of_treatment",
                {"eot_date": eot_day, "last_dose_date": last_cycle, "eot_reason": eot_reason},
                {},
            )
        )
        forms.statuses.append((eot_day, "treatment", "off_treatment", OFF_REASONS[eot_reason]))
        _follow_up(forms, rng, eot_day, progressed_on, death_day, last_day)
    if death_known:
        if eot_day is None and cycles:
            forms.forms.append(
                (
                    "end_of_treatment",
                    1,
                    1,
                    "end_of_treatment",
                    {"eot_date": death_day, "last_dose_date": last_cycle, "eot_reason": 5},
                    {},
                )
            )
        occurrence = 1 + sum(1 for f in forms.forms if f[3] == "survival")
        forms.forms += [
            (
                "follow_up",
                occurrence,
                1,
                "survival",
                {
                    "surv_status": 2,
                    "last_news_date": death_day,
                    "death_date": death_day,
                    "death_cause": rng.choices([1, 3, 9], [0.9, 0.05, 0.05])[0],
                },
                {},
            ),
            (
                "end_of_study",
                1,
                1,
                "end_of_study",
                {"eos_date": death_day, "eos_reason": 2, "unblinded": 0},
                {},
            ),
        ]
        forms.statuses.append((death_day, "study", StudyStatus.DECEASED, ""))
    return forms


def _assessments(
    story: Story,
    rng: random.Random,
    book: Casebook,
    randomised_on: date,
    progression_day: date,
    death_day: date,
    last_day: date,
) -> date | None:
    """Add the tumour assessments every 56 days until progression; return its day, if any."""
    lesions = [book.lesions[row] for row in sorted(book.lesions)]
    if not lesions:
        return None
    sum0 = sum(x.diameter for x in lesions)
    nadir = float(sum0)
    best = rng.uniform(0.55, 0.85) if rng.random() < 0.3 else rng.uniform(0.88, 1.02)
    k = 1
    while True:
        day = randomised_on + timedelta(days=56 * k + rng.randint(-5, 5))
        if day > last_day or day >= death_day:
            return None
        progressing = day >= progression_day
        fraction = 1.0 if progressing else best + (1 - best) * math.exp(-k)
        diameters = recist(rng, lesions, fraction, progressing=False)
        new_lesions = target_progression = False
        if progressing:
            # RECIST 1.1: +20% over the nadir, or a new lesion (no non-target lesion here).
            target_progression = rng.random() < 0.6
            new_lesions = not target_progression or rng.random() < 0.3
            if target_progression:
                scale = max(1.25 * nadir / max(sum(diameters), 1), 1.0)
                diameters = [min(300, round(d * scale) + 1) for d in diameters]
        total = sum(diameters)
        nadir = min(nadir, total)
        change = 100 * (total - sum0) / sum0
        if target_progression:
            target = 4
        elif total == 0:
            target = 1
        elif change <= -30:
            target = 2
        else:
            target = 3
        values: dict[str, Any] = {
            "ta_date": day,
            "ta_method": rng.choices([1, 3], [0.85, 0.15])[0],
            "target_resp": target,
            "new_lesions": 1 if new_lesions else 0,
            "overall_resp": 4 if progressing else target,
        }
        if new_lesions:
            values["new_lesion_sites"] = rng.sample([1, 2, 3, 4], rng.randint(1, 2))
        rows = {
            "targets": {
                row: {"tl_site": x.site, "tl_node": int(x.node), "tl_diam": d}
                for row, (x, d) in enumerate(zip(lesions, diameters, strict=True), 1)
            }
        }
        story.forms.append(("tumour_assessment", k, 1, "tumour_assessment", values, rows))
        if progressing:
            return day
        k += 1


def _adverse_events(
    rng: random.Random, cycles: list[tuple[int, date]], arm: str, last_day: date
) -> list[AdverseEvent]:
    """Return the adverse events starting in the days after each cycle."""
    experimental = arm == "experimental"
    pool = ANTI_ANGIOGENIC_AES if experimental else PLACEBO_AES
    terms, weights = [t for t, _w in pool], [w for _t, w in pool]
    events = []
    for _occurrence, day in cycles:
        if rng.random() >= AE_RATE[arm]:
            continue
        term = rng.choices(terms, weights)[0]
        grade = rng.choices([1, 2, 3, 4], [0.55, 0.31, 0.12, 0.02])[0]
        start = day + timedelta(days=rng.randint(1, 12))
        if start > last_day:
            continue
        serious = grade >= 3 and rng.random() < SERIOUS_SHARE
        # The first pass's cycles go on undelayed at full dose: no action on the treatment.
        relation = rng.choice([3, 4]) if experimental else rng.choice([1, 2, 3])
        end = start + timedelta(days=rng.randint(4, 45))
        events.append(AdverseEvent(term, grade, start, end, serious, relation, 1))
    return events


def _follow_up(
    story: Story,
    rng: random.Random,
    eot_day: date,
    progressed_on: date | None,
    death_day: date,
    last_day: date,
) -> None:
    """Add the survival forms every 91 days from the end of treatment, until death or
    yesterday (the last ones often not entered yet)."""
    occurrence = 1
    told = False
    while True:
        day = eot_day + timedelta(days=91 * occurrence + rng.randint(-10, 12))
        if day >= death_day or day > last_day:
            return
        if (last_day - day).days < ENTRY_LAG_DAYS and rng.random() < 0.5:
            return
        tells = progressed_on is not None and progressed_on < day and not told
        therapy_on = (progressed_on or day) + timedelta(days=rng.randint(14, 40))
        tells = tells and therapy_on <= day
        values: dict[str, Any] = {
            "surv_status": 1,
            "last_news_date": day,
            "new_therapy": 1 if tells else 0,
        }
        if tells:
            values |= {
                "new_therapy_date": therapy_on,
                "new_therapy_desc": rng.choice(NEW_THERAPIES),
            }
        story.forms.append(("follow_up", occurrence, 1, "survival", values, {}))
        told = told or tells
        occurrence += 1


@dataclass
class OutcomesAdded:
    """What the second pass did for a batch."""

    randomised: int = 0
    values: int = 0


def outcomes_add(
    *,
    actor: SystemActor,
    study: Study,
    subjects: list[Subject],
    staff: dict[str, User],
    last_day: date,
) -> OutcomesAdded:
    """Randomise ``subjects`` (those of a batch without an allocation, inside the caller's
    transaction) and write what follows; return how many and the values written."""
    done = OutcomesAdded()
    allocated = set(
        Allocation.objects.filter(subject__in=subjects).values_list("subject_id", flat=True)
    )
    books = casebooks_read([s for s in subjects if s.pk not in allocated])
    if not books:
        return done
    sites = {site.pk: site for site in StudySite.objects.filter(study=study)}
    per_site: dict[str, int] = defaultdict(int)
    for book in books:
        per_site[sites[book.subject.site_id].code] += 1
    pharmacists = demo_pharmacy.pharmacy_load(actor=actor, study=study)
    for code, needed in sorted(per_site.items()):
        site = next(s for s in sites.values() if s.code == code)
        demo_pharmacy.stock_ensure(
            actor=actor, study=study, site=site, pharmacist=pharmacists[code], needed=needed
        )

    def site_of(book: Casebook) -> str:
        return sites[book.subject.site_id].code

    # The randomisation form first: the minimisation reads strat_ecog from the casebook.
    done.values += _import(
        study,
        staff,
        [
            _record(
                book,
                staff[site_of(book)],
                (
                    "baseline",
                    1,
                    1,
                    "randomisation",
                    {"rando_date": book.subject.included_on} | {"strat_ecog": book.ecog},
                    {},
                ),
                complete=False,
            )
            for book in books
        ],
    )
    stories = []
    for book in books:
        draws = random.Random(f"{SEED}:SCALE-CRC:{book.number}:draws")
        included_on = book.subject.included_on
        assert included_on is not None
        zone = ZoneInfo(sites[book.subject.site_id].centre.time_zone)
        moment = min(datetime.combine(included_on, time(10), tzinfo=zone), utc_now())
        allocation = subject_randomise(
            actor=staff[site_of(book)], subject=book.subject, random_source=draws.random, at=moment
        )
        stories.append(
            (
                book,
                story_of(
                    book,
                    arm=allocation.arm,
                    number=rando_number(allocation.number),
                    last_day=last_day,
                ),
            )
        )
        done.randomised += 1
    done.values += _import(
        study,
        staff,
        [
            _record(book, staff[site_of(book)], form, complete=True)
            for book, story in stories
            for form in story.forms
        ],
    )
    for book, story in stories:
        subject = book.subject
        for day, track, status, reason in sorted(story.statuses, key=lambda s: s[0]):
            if track == "treatment":
                subject = subject_change_treatment(
                    actor=staff[site_of(book)],
                    subject=subject,
                    status=status,
                    on=day,
                    reason=reason,
                )
            else:
                subject = subject_change_status(
                    actor=staff[site_of(book)], subject=subject, status=status, on=day
                )
    return done


def _record(
    book: Casebook,
    actor: User,
    form: tuple[str, int, int, str, dict[str, Any], dict[str, Any]],
    *,
    complete: bool,
) -> FormRecord:
    event, occurrence, repeat, name, values, rows = form
    return FormRecord(
        subject=book.subject,
        event=event,
        occurrence=occurrence,
        repeat=repeat,
        form=name,
        values={k: v for k, v in values.items() if v is not None},
        rows=rows,
        complete=complete,
        source=f"{book.subject.screening_number} {event}[{occurrence}].{name}[{repeat}]",
        actor=actor,
    )


def _import(study: Study, staff: dict[str, User], records: list[FormRecord]) -> int:
    """Import the records, one import per site (its data-entry account); return the values."""
    by_site: dict[str, list[FormRecord]] = defaultdict(list)
    for record in records:
        by_site[record.subject.site.code].append(record)
    return sum(
        forms_import(
            actor=staff[code], study=study, records=chunk, reason=OUTCOMES_REASON
        ).values_changed
        for code, chunk in sorted(by_site.items())
    )
