"""MAINTAIN-CRC's samples in the demo: what its translational research collects, and their life
in the biological resource centre (CRB) of the sponsor's centre, entered through the biobank's
services as the sites and the CRB would enter them (every write audited).

- At baseline and at the end-of-treatment visit (most treatments stop at progression), each
  patient who gave the optional biobank consent gives the ctDNA plasma tube (two centrifugations
  at 4 °C, frozen at -80 °C) and, at baseline, a tumour biopsy fixed in formalin (FFPE block);
  some give the optional biopsy at progression. The site's nurse records the collection and the
  processing times; a few tubes wait too long or are drawn short (deviations shown), a few
  visits give nothing (the missing-samples list).
- The CRB's technician (the `biobank` account) divides each plasma into the protocol's four
  aliquots and puts every tube away: a -80 °C freezer and a room-temperature block cabinet at the
  centre, racks of boxes.
- Under an amended consent form, a few patients of site 01 also agree to future research; one
  aliquot of each patient's baseline plasma goes to a research partner under a material transfer
  agreement (one shipment, sent and received).
- One of them then withdraws that consent: the technician takes that patient's tubes out,
  destroys them, has the aliquot at the partner destroyed, and returns the tumour block to the
  site's pathology department.

Loading is idempotent: a patient's visit with a sample already recorded is skipped, the storage,
the agreement, the shipment and the withdrawal are made once. Each patient is one transaction.
"""

# ruff: noqa: S311 (synthetic data wants a seeded, reproducible generator, not secrecy)
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from carnet.accounts.models import Centre, StudySite, User
from carnet.biobank.aliquots import sample_aliquot
from carnet.biobank.collection import Step, expected_for, sample_collect, sample_process_many
from carnet.biobank.consent import sample_dispose, samples_to_dispose
from carnet.biobank.models import (
    Box,
    Destination,
    DestinationKind,
    DispositionAction,
    Freezer,
    Rack,
    Sample,
    SampleStatus,
    SampleUse,
    Shipment,
    TransferAgreement,
)
from carnet.biobank.mta import agreement_create, destination_create
from carnet.biobank.shipments import shipment_prepare, shipment_receive, shipment_send
from carnet.biobank.storage import (
    Placement,
    box_create,
    freezer_create,
    rack_create,
    sample_take_out,
    samples_store,
)
from carnet.demo.synthetic import SEED
from carnet.studies.models import Study
from carnet.subjects.models import Consent, Subject, Visit
from carnet.subjects.services import consent_record
from carnet.subjects.statuses import StudyStatus

TECHNICIAN = "biobank"
# The CRB of the sponsor's centre (site 01) keeps every site's samples.
CRB_SITE = "01"
FREEZER = "CRB-80-01"
CABINET = "CRB-FFPE-01"
BOXES_PER_RACK = 6
PLASMA = "plasma_ctdna"
AMENDED_FORM = "v2.1 2025-09-01"
AMENDED_ON = date(2025, 9, 1)  # the amended consent form, with future research, in use from
PARTNER = "CTDNA-LAB"
MTA = "MTA-CTDNA-2026"
RECONSENTED = 6  # patients of site 01 signing the amended form with future research
SHIPPED_ALIQUOT = "-A04"  # one aliquot of each such patient's baseline plasma leaves


@dataclass
class DemoBiobank:
    """What the demo's biobank holds after loading (for the command's summary and the tests)."""

    collected: int = 0
    aliquots: int = 0
    stored: int = 0
    shipment: str = ""
    withdrawn: str = ""  # the subject whose future research consent was withdrawn
    disposed: list[str] = field(default_factory=list)


def biobank_load(*, study: Study, staff: dict[str, User], last_day: date) -> DemoBiobank:
    """Collect, process, aliquot and store MAINTAIN-CRC's samples up to ``last_day``, then ship
    and dispose as the module says; return what was done now."""
    done = DemoBiobank()
    technician = User.objects.filter(username=TECHNICIAN).first()
    if technician is None:
        return done  # the demo accounts are not loaded: nothing can be stored
    storage = _Storage(technician, study)
    visits = _visits(study, last_day)
    for subject in _consenting(study):
        # One patient, one transaction: an interrupted run leaves whole patients only.
        with transaction.atomic():
            for event, occurrence, on in visits.get(subject.pk, []):
                # Seeded per visit: a visit that gave nothing gives nothing on a second run.
                rng = random.Random(f"{SEED}-biobank-{subject.identifier}-{event}-{occurrence}")
                _visit_samples(
                    subject, event, occurrence, on, rng, staff[subject.site.code], storage, done
                )
    reconsented = _reconsent(study, staff[CRB_SITE], last_day)
    _ship(study, technician, reconsented, done)
    if reconsented:
        _withdraw(study, technician, staff[CRB_SITE], reconsented[0], last_day, done)
    return done


# --- collection and processing (the site's nurse) -----------------------------------------------


def _consenting(study: Study) -> list[Subject]:
    """Return the included patients whose latest consent form gives the biobank consent."""
    latest: dict[int, bool] = {}
    for subject_id, biobank in (
        Consent.objects.filter(subject__study=study)
        .order_by("subject_id", "consented_on", "pk")
        .values_list("subject_id", "biobank")
    ):
        latest[subject_id] = biobank
    return list(
        Subject.objects.filter(pk__in=[pk for pk, given in latest.items() if given])
        .select_related("site__centre", "study")
        .order_by("identifier")
    )


def _visits(study: Study, last_day: date) -> dict[int, list[tuple[str, int, date]]]:
    """Return each subject's baseline and end-of-treatment visits done by ``last_day`` whose
    samples are not recorded yet."""
    taken = set(
        Sample.objects.filter(study=study, parent__isnull=True).values_list(
            "subject_id", "event", "occurrence"
        )
    )
    found: dict[int, list[tuple[str, int, date]]] = {}
    for subject_id, event, occurrence, on in (
        Visit.objects.filter(
            subject__study=study,
            event__in=["baseline", "end_of_treatment"],
            occurrence=1,
            visit_on__lte=last_day,
        )
        .order_by("subject_id", "visit_on")
        .values_list("subject_id", "event", "occurrence", "visit_on")
    ):
        if (subject_id, event, occurrence) not in taken:
            found.setdefault(subject_id, []).append((event, occurrence, on))
    return found


def _visit_samples(
    subject: Subject,
    event: str,
    occurrence: int,
    on: date,
    rng: random.Random,
    nurse: User,
    storage: _Storage,
    done: DemoBiobank,
) -> None:
    if rng.random() < 0.05:
        return  # forgotten at this visit: the overdue list shows it missing
    zone = ZoneInfo(subject.site.centre.time_zone)
    drawn = datetime.combine(on, time(8, rng.choice([0, 15, 30, 45])), tzinfo=zone)
    drawn += timedelta(minutes=rng.randint(0, 150))
    plasma = _plasma(subject, event, occurrence, drawn, rng, nurse)
    tissue = None
    if event == "baseline" or rng.random() < 0.3:  # the biopsy at progression is optional
        code = "tumour_block" if event == "baseline" else "tumour_biopsy"
        tissue = _tissue(subject, event, occurrence, code, drawn, rng, nurse)
    done.collected += 1 + (tissue is not None)
    # The CRB's technician: four aliquots of the plasma, every tube put away.
    expected = expected_for(subject, event, PLASMA)
    count = expected.aliquots or 1
    share = (plasma.volume or Decimal(expected.volume or count)) / count
    tubes = sample_aliquot(
        actor=storage.technician,
        sample=plasma,
        volumes=[share.quantize(Decimal("0.001"))] * count,
        container="cryotube_2ml",
    )
    done.aliquots += len(tubes)
    storage.store([(tube, True) for tube in tubes] + ([(tissue, False)] if tissue else []))
    done.stored += len(tubes) + (tissue is not None)


def _plasma(
    subject: Subject, event: str, occurrence: int, drawn: datetime, rng: random.Random, nurse: User
) -> Sample:
    short = rng.random() < 0.04  # a tube drawn short: a volume deviation
    sample = sample_collect(
        actor=nurse,
        subject=subject,
        event=event,
        occurrence=occurrence,
        code=PLASMA,
        collected_at=drawn,
        volume=Decimal("8.5") if short else Decimal(10),
        held="cold",
        haemolysis="none" if rng.random() < 0.9 else "slight",
    )
    # Spun within the protocol's two hours, but now and then a tube waits too long.
    wait = rng.randint(130, 200) if rng.random() < 0.05 else rng.randint(25, 95)
    first = drawn + timedelta(minutes=wait)
    second = first + timedelta(minutes=rng.randint(12, 20))
    steps = [
        Step(
            kind=kind,
            started_at=start,
            ended_at=start + timedelta(minutes=10),
            temperature=Decimal(4),
            force_g=1600,
            held="cold",
        )
        for kind, start in (("centrifugation", first), ("second_centrifugation", second))
    ]
    steps.append(
        Step(
            kind="freezing",
            started_at=second + timedelta(minutes=10 + rng.randint(10, 50)),
            temperature=Decimal(-80),
            held="cold",
        )
    )
    sample_process_many(actor=nurse, sample=sample, steps=steps)
    return sample


def _tissue(
    subject: Subject,
    event: str,
    occurrence: int,
    code: str,
    drawn: datetime,
    rng: random.Random,
    nurse: User,
) -> Sample:
    taken = drawn + timedelta(minutes=rng.randint(30, 180))
    sample = sample_collect(
        actor=nurse,
        subject=subject,
        event=event,
        occurrence=occurrence,
        code=code,
        collected_at=taken,
        collection_method="biopsy",
    )
    fixed = taken + timedelta(minutes=rng.randint(5, 40))
    ended = fixed + timedelta(hours=rng.randint(18, 48))
    steps = [
        Step(
            kind="fixation", started_at=fixed, ended_at=ended, fixative="neutral_buffered_formalin"
        ),
        # Embedded in paraffin and kept at room temperature: SPREC's long-term storage E.
        Step(kind="freezing", started_at=ended + timedelta(hours=2), temperature=Decimal(20)),
    ]
    sample_process_many(actor=nurse, sample=sample, steps=steps)
    return sample


# --- storage (the CRB's technician) -------------------------------------------------------------


class _Storage:
    """The CRB's -80 °C freezer and block cabinet, filled box after box (made when needed)."""

    def __init__(self, technician: User, study: Study) -> None:
        self.technician, self.study = technician, study
        centre = StudySite.objects.select_related("centre").get(study=study, code=CRB_SITE).centre
        self.places = {
            True: self._freezer(centre, FREEZER, -80, "PLASMA", 9, 9),
            False: self._freezer(centre, CABINET, 20, "FFPE", 10, 10),
        }

    def _freezer(
        self, centre: Centre, name: str, temperature: int, kind: str, rows: int, columns: int
    ) -> _Shelf:
        freezer = Freezer.objects.filter(centre=centre, name=name).first() or freezer_create(
            actor=self.technician,
            study=self.study,
            centre=centre,
            name=name,
            temperature=temperature,
            location="CRB, room 012",
        )
        return _Shelf(self, freezer, kind, rows, columns)

    def store(self, samples: list[tuple[Sample, bool]]) -> None:
        """Put a visit's samples away (each ``(sample, frozen)``), in one batch per box: a new
        box is made only once the samples before it are stored, as one at a time would."""
        pending: list[Placement] = []
        for sample, frozen in samples:
            shelf = self.places[frozen]
            if not shelf.has_room() and pending:
                samples_store(actor=self.technician, placements=pending)
                pending = []
            pending.append(Placement(sample=sample, box=shelf.take()))
        samples_store(actor=self.technician, placements=pending)


class _Shelf:
    def __init__(
        self, storage: _Storage, freezer: Freezer, kind: str, rows: int, columns: int
    ) -> None:
        self.storage, self.freezer, self.kind = storage, freezer, kind
        self.rows, self.columns = rows, columns
        self.current = (
            Box.objects.filter(rack__freezer=freezer).order_by("-created_at", "-pk").first()
        )

    def has_room(self) -> bool:
        return self.current is not None and self.current.used < self.current.capacity

    def take(self) -> Box:
        """Return the box being filled, or a new one (a new rack every few boxes) when full,
        counting the position taken. The demo is the boxes' only writer while it loads: the
        count kept here is the database's once the batch is stored."""
        box = self.current
        if box is None or box.used >= box.capacity:
            box = self._new_box()
        box.used += 1
        return box

    def _new_box(self) -> Box:
        number = Box.objects.filter(rack__freezer=self.freezer).count() + 1
        rack_name = f"R{(number - 1) // BOXES_PER_RACK + 1:02d}"
        rack = Rack.objects.filter(freezer=self.freezer, name=rack_name).first() or rack_create(
            actor=self.storage.technician, study=self.storage.study, freezer=self.freezer,
            name=rack_name,
        )  # fmt: skip
        self.current = box_create(
            actor=self.storage.technician,
            study=self.storage.study,
            rack=rack,
            name=f"{self.kind}-{number:03d}",
            rows=self.rows,
            columns=self.columns,
        )
        return self.current


# --- future research: amended consent, a shipment to a partner, a withdrawal ---------------------


def _reconsent(study: Study, nurse: User, last_day: date) -> list[Subject]:
    """Return the patients of site 01 who signed the amended form with future research, having
    the first of them sign it when nobody has yet."""
    signed = list(
        Subject.objects.filter(study=study, consents__form_version=AMENDED_FORM)
        .distinct()
        .order_by("identifier")
    )
    if signed:
        return signed
    candidates = [
        subject
        for subject in _consenting(study)
        if subject.site.code == CRB_SITE
        and subject.study_status in (StudyStatus.INCLUDED, StudyStatus.IN_FOLLOW_UP)
        and Sample.objects.filter(
            subject=subject, event="baseline", identifier__endswith=SHIPPED_ALIQUOT
        ).exists()
    ]
    for subject in candidates[:RECONSENTED]:
        on = max(AMENDED_ON, subject.included_on + timedelta(days=30))
        if on > last_day - timedelta(days=40):
            continue
        consent_record(
            actor=nurse,
            subject=subject,
            form_version=AMENDED_FORM,
            consented_on=on,
            biobank=True,
            future_research=True,
            sharing=True,  # the partner is outside the centre: its own consent since v2.1
        )
        signed.append(subject)
    return signed


def _ship(study: Study, technician: User, patients: Iterable[Subject], done: DemoBiobank) -> None:
    """Send one aliquot of each patient's baseline plasma to the partner, under its MTA."""
    if Shipment.objects.filter(study=study, destination__code=PARTNER).exists():
        return
    tubes = list(
        Sample.objects.filter(
            subject__in=list(patients),
            event="baseline",
            identifier__endswith=SHIPPED_ALIQUOT,
            status=SampleStatus.STORED,
        )
        .order_by("identifier")
        .values_list("identifier", flat=True)
    )
    if not tubes:
        return
    with transaction.atomic():
        partner = Destination.objects.filter(
            study=study, code=PARTNER
        ).first() or destination_create(
            actor=technician,
            study=study,
            code=PARTNER,
            name="Circulating tumour DNA research laboratory (academic partner)",
            kind=DestinationKind.PARTNER,
            contact="ctdna-lab@example.org",
        )
        agreement = TransferAgreement.objects.filter(
            study=study, reference=MTA
        ).first() or agreement_create(
            actor=technician,
            study=study,
            reference=MTA,
            destination=partner,
            uses=[SampleUse.FUTURE_RESEARCH, SampleUse.SHARING],
            sample_types=["plasma"],
            starts_on=date(2026, 1, 1),
            ends_on=date(2028, 12, 31),
            maximum_samples=50,
        )
        shipment = shipment_prepare(
            actor=technician,
            study=study,
            destination=partner,
            use=SampleUse.FUTURE_RESEARCH,
            identifiers=tubes,
            agreement=agreement,
        )
        shipment_send(actor=technician, shipment=shipment)
        shipment_receive(actor=technician, shipment=shipment, received="\n".join(tubes))
    done.shipment = shipment.reference


def _withdraw(
    study: Study,
    technician: User,
    nurse: User,
    subject: Subject,
    last_day: date,
    done: DemoBiobank,
) -> None:
    """The patient takes back the consent to future research (a later form without it); the
    technician destroys their tubes, the partner destroys its aliquot, the block goes back."""
    latest = subject.consents.order_by("-consented_on", "-pk").first()
    if latest is None or not latest.future_research:
        return  # already withdrawn (a second run)
    on = min(last_day, latest.consented_on + timedelta(days=75))
    with transaction.atomic():
        consent_record(
            actor=nurse,
            subject=subject,
            form_version=AMENDED_FORM,
            consented_on=on,
            biobank=True,
            future_research=False,
            sharing=latest.sharing,  # only future research is taken back
        )
        concerned = [
            row.sample for row in samples_to_dispose(technician, study) if row.sample.subject_id
            == subject.pk
        ]  # fmt: skip
        why = f"withdrawal of the consent to future research on {on.isoformat()}"
        for sample in concerned:
            if sample.status == SampleStatus.STORED:
                sample_take_out(actor=technician, sample=sample, reason=f"to destroy: {why}")
        blocks = [s.identifier for s in concerned if s.sample_type == "tumour_ffpe"]
        tubes = [s.identifier for s in concerned if s.sample_type != "tumour_ffpe"]
        if tubes:
            sample_dispose(
                actor=technician,
                study=study,
                identifiers=tubes,
                action=DispositionAction.DESTROYED,
                reason=f"{why}; the partner destroyed the aliquot it holds (certificate received)",
            )
        if blocks:
            sample_dispose(
                actor=technician,
                study=study,
                identifiers=blocks,
                action=DispositionAction.RETURNED,
                reason=f"{why}; returned to the site's pathology department for the patient's care",
            )
    done.withdrawn = subject.identifier
    done.disposed = sorted(s.identifier for s in concerned)
