"""MINI in kit mode for the dispensing tests: randomised by minimisation, with a treatment visit
a week after randomisation (its kit is assigned at randomisation) and 14-day cycles, and
people at sites A and B. Stock is written directly (as received), the stock helper's receipt
being another part's work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from carnet.accounts.models import StudySite, User
from carnet.accounts.roles import Role
from carnet.core.clock import utc_now, utc_today
from carnet.pharmacy.models import Batch, Kit, KitStatus, StockMovement
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, FIXTURE, person, world
from tests.randomization.conftest import (
    AFTER_RANDOMISATION,
    AFTER_RANDOMISATION_BEFORE,
    MINIMISATION,
    Trial,
)

KITS = (
    ", pharmacy: {mode: kits, products: [{code: CRN, name: {en: CRN-417, fr: CRN-417},"
    " unit: vial, per_kit: 4}], dispensing: [{event: treatment, product: CRN},"
    " {event: cycle, product: CRN}], resupply: {minimum_per_content: 2, horizon_weeks: 4}}"
)
HOSPITAL = (
    ", pharmacy: {mode: hospital_stock, products: [{code: CAPE, name: {en: Capecitabine,"
    " fr: Capécitabine}, unit: tablet}], dispensing: [{event: cycle, product: CAPE}]}"
)
KIT_ITEM_AFTER = "          - {name: vs_date, type: date,"
KIT_ITEM = (
    "          - {name: kit_number, type: text, label: {en: Kit number, fr: Numéro de kit}}\n"
)


@dataclass
class PharmacyTrial(Trial):
    pharmacist: User  # site A
    pharmacist_b: User  # site B
    statistician: User  # blinded
    manager: User  # project manager (the sponsor's supply)
    batch: Batch
    next_number: int = 100000

    def stock(
        self,
        content: str,
        *,
        site: StudySite | None = None,
        expiry: date | None = None,
        status: str = KitStatus.AVAILABLE,
        batch: Batch | None = None,
        count: int = 1,
    ) -> list[Kit]:
        """Kits received at a site (A unless given), with their receipt in the ledger."""
        site = site or self.world.site_a
        kits = []
        now = utc_now()
        for _ in range(count):
            self.next_number += 1
            kit = Kit.objects.create(
                study=self.world.study,
                environment="production",
                number=str(self.next_number),
                batch=batch or self.batch,
                content=content,
                quantity=Decimal(4),
                expiry=expiry or utc_today() + timedelta(days=365),
                status=status,
                site=site,
                created_at=now,
                updated_at=now,
            )
            StockMovement.objects.create(
                study=self.world.study,
                environment="production",
                kind=StockMovement.Kind.RECEIVED,
                kit=kit,
                product=kit.batch.product,
                quantity=kit.quantity,
                site=site,
                actor="test",
                at=now,
            )
            kits.append(kit)
        return kits

    def randomised(self, site: str = "a") -> Subject:
        from carnet.randomization.services import subject_randomise

        subject = self.include(site=site, on=utc_today())
        subject_randomise(actor=self.nurse if site == "a" else self.other_site, subject=subject)
        subject.refresh_from_db()
        return subject


# The dose given, recorded on the vitals form (with the weight and the day, vs_date).
DOSE_ITEM = (
    "          - {name: adm_dose, type: decimal, units: mg,"
    " label: {en: Dose given, fr: Dose administrée}}\n"
)


def pharmacy_trial(
    tmp_path: Path, *, mode: str = "kits", administration: str = ""
) -> PharmacyTrial:
    """``administration``: the YAML list of ``design.pharmacy.administration`` (flow style);
    the vitals form then holds a dose item, adm_dose."""
    w = world()
    text = FIXTURE.read_text(encoding="utf-8")
    amended = tmp_path / "mini.yaml"
    pharmacy = KITS if mode == "kits" else HOSPITAL
    if administration:
        pharmacy = pharmacy.removesuffix("}") + f", administration: {administration}}}"
        text = text.replace(KIT_ITEM_AFTER, DOSE_ITEM + KIT_ITEM_AFTER, 1)
    text = text.replace(MINIMISATION, MINIMISATION + pharmacy)
    text = text.replace(
        AFTER_RANDOMISATION_BEFORE, AFTER_RANDOMISATION + AFTER_RANDOMISATION_BEFORE
    ).replace(KIT_ITEM_AFTER, KIT_ITEM + KIT_ITEM_AFTER, 1)
    amended.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    assert "pharmacy" in w.study.current_version.parsed().design
    batch = Batch.objects.create(
        study=w.study,
        environment="production",
        product="CRN",
        number="B1",
        expiry=utc_today() + timedelta(days=400),
        released_on=utc_today() - timedelta(days=30),
        created_at=utc_now(),
    )
    return PharmacyTrial(
        world=w,
        investigator=person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        other_site=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        data_manager=person("dora", study=w.study, role=Role.DATA_MANAGER),
        unblinded=person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN),
        pharmacist=person("phil", study=w.study, role=Role.PHARMACIST, sites=[w.site_a]),
        pharmacist_b=person("paula", study=w.study, role=Role.PHARMACIST, sites=[w.site_b]),
        statistician=person("stan", study=w.study, role=Role.STATISTICIAN),
        manager=person("pam", study=w.study, role=Role.PROJECT_MANAGER),
        batch=batch,
    )


def cli_study() -> dict[str, str]:
    """For the command line's test: DISPENSE (MINI in kit mode) with site 01 at ICM, two kits of
    each arm and a subject randomised (its treatment kit assigned); return the subject and the
    kit for the commands' placeholders."""
    import tempfile

    from carnet.accounts.models import Centre
    from carnet.accounts.services import site_activate, site_add
    from carnet.capture.services import form_save
    from carnet.randomization.services import subject_randomise
    from carnet.subjects.services import ConsentGiven, subject_include

    text = FIXTURE.read_text(encoding="utf-8").replace(MINIMISATION, MINIMISATION + KITS)
    text = text.replace(
        AFTER_RANDOMISATION_BEFORE, AFTER_RANDOMISATION + AFTER_RANDOMISATION_BEFORE
    ).replace("identifier: MINI", "identifier: DISPENSE", 1)
    path = Path(tempfile.mkdtemp()) / "dispense.yaml"
    path.write_text(text, encoding="utf-8")
    study = study_load(
        actor=ADMIN, study_file=study_file_read(path), source_name="dispense.yaml"
    ).study
    study_publish(actor=ADMIN, study=study)
    study_mode_change(actor=ADMIN, study=study, mode="production")
    study.refresh_from_db()
    site = site_add(actor=ADMIN, study=study, centre=Centre.objects.get(code="ICM"))
    site = site_activate(actor=ADMIN, site=site, on=date(2025, 1, 15))
    batch = Batch.objects.create(
        study=study,
        environment="production",
        product="CRN",
        number="B1",
        expiry=utc_today() + timedelta(days=400),
        released_on=utc_today() - timedelta(days=30),
        created_at=utc_now(),
    )
    now = utc_now()
    for number, content in enumerate(["experimental", "placebo"] * 2, start=900001):
        kit = Kit.objects.create(
            study=study,
            environment="production",
            number=str(number),
            batch=batch,
            content=content,
            quantity=Decimal(4),
            expiry=utc_today() + timedelta(days=365),
            status=KitStatus.AVAILABLE,
            site=site,
            created_at=now,
            updated_at=now,
        )
        StockMovement.objects.create(
            study=study,
            environment="production",
            kind=StockMovement.Kind.RECEIVED,
            kit=kit,
            product="CRN",
            quantity=kit.quantity,
            site=site,
            actor="test",
            at=now,
        )
    nurse = person("dispense-nurse", study=study, role=Role.DATA_ENTRY, sites=[site])
    today = utc_today()
    subject = subject_include(
        actor=nurse,
        study=study,
        site=site,
        included_on=today,
        eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=today),
    )
    form_save(
        actor=nurse,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1},
    )
    subject_randomise(actor=nurse, subject=subject)
    kit = Kit.objects.get(subject=subject)
    return {
        "{dispense_subject}": subject.identifier,
        "{dispense_kit}": kit.number,
        "{dispense_site}": site.code,
    }
