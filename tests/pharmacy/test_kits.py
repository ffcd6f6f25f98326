"""Batches and kit lists: the manufacturer's CSV with its SHA-256, all lines or none, errors at
their line and column; generated lists; relabelling after an extension, in the ledger and the
audit trail, never with a kit's content."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.pharmacy.models import Kit, KitStatus, StockMovement
from carnet.pharmacy.supply import batch_create, kits_generate, kits_import, kits_relabel
from tests.pharmacy.conftest import Pharmacy, checksum, kit_list

pytestmark = pytest.mark.django_db


def test_the_manufacturers_list_is_imported_with_its_checksum(pharmacy: Pharmacy) -> None:
    added = pharmacy.import_kits("K001,B1,experimental,", "K002,B1,placebo,2027-01-31")
    assert added == 2
    kits = {k.number: k for k in Kit.objects.filter(study=pharmacy.study)}
    assert kits["K001"].expiry == date(2027, 6, 30)  # the batch's
    assert kits["K002"].expiry == date(2027, 1, 31)
    assert kits["K001"].quantity == 60  # per_kit of the product
    assert {k.status for k in kits.values()} == {KitStatus.AT_DEPOT}
    assert (
        StockMovement.objects.filter(kind="created", actor=pharmacy.supply.display_name()).count()
        == 2
    )


@pytest.mark.parametrize(
    ("rows", "located"),
    [
        (("K001,B1,experimental,", "K002,B9,placebo,"), "line 3, column batch"),
        (("K001,B1,experimental,", "K002,B1,active,"), "line 3, column content"),
        (("K001,B1,experimental,", "K001,B1,placebo,"), "line 3, column kit"),
        (("K001,B1,experimental,", "K 2,B1,placebo,"), "line 3, column kit"),
        (("K001,B1,experimental,", "K002,B1,placebo,31/01/2027"), "line 3, column expiry"),
        (("K001,B1,experimental,", "K002,B1,placebo,2028-01-01"), "line 3, column expiry"),
    ],
)
def test_a_malformed_list_is_refused_at_its_line_and_column_and_nothing_is_imported(
    pharmacy: Pharmacy, rows: tuple[str, ...], located: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        pharmacy.import_kits(*rows)
    assert str(refused.value).startswith(located)
    assert not Kit.objects.filter(study=pharmacy.study).exists()
    assert not StockMovement.objects.exists()


def test_a_wrong_content_names_the_value_a_missing_column_the_column(pharmacy: Pharmacy) -> None:
    with pytest.raises(ValidationError, match=r"'active' is not an arm of the study"):
        pharmacy.import_kits("K001,B1,active,")
    content = b"kit,content\nK001,placebo\n"
    with pytest.raises(ValidationError, match="line 1: the columns batch are missing"):
        kits_import(
            actor=pharmacy.supply, study=pharmacy.study, content=content, checksum=checksum(content)
        )


def test_a_list_whose_checksum_differs_is_refused_before_it_is_read(pharmacy: Pharmacy) -> None:
    content = kit_list("K001,B1,experimental,")
    other = checksum(kit_list("K001,B1,placebo,"))
    with pytest.raises(ValidationError, match=r"the file's SHA-256 is .* not the one given"):
        kits_import(actor=pharmacy.supply, study=pharmacy.study, content=content, checksum=other)
    with pytest.raises(ValidationError, match="the checksum is not a SHA-256"):
        kits_import(
            actor=pharmacy.supply, study=pharmacy.study, content=content, checksum="abc kits.csv"
        )
    assert not Kit.objects.exists()


def test_only_the_supply_side_imports_and_the_audit_trail_never_holds_contents(
    pharmacy: Pharmacy,
) -> None:
    content = kit_list("K001,B1,experimental,")
    with pytest.raises(PermissionDenied):
        kits_import(
            actor=pharmacy.pharmacist,
            study=pharmacy.study,
            content=content,
            checksum=checksum(content),
        )
    pharmacy.import_kits("K001,B1,experimental,", "K002,B1,placebo,")
    events = AuditEvent.objects.filter(action__startswith="pharmacy.")
    assert events.filter(action="pharmacy.kit_created").count() == 2
    for event in events:
        assert "experimental" not in str(event.new) + str(event.old)
        assert "placebo" not in str(event.new) + str(event.old)


def test_generated_kits_hold_every_arm_shuffled_across_the_numbers(pharmacy: Pharmacy) -> None:
    listed = kits_generate(
        actor=pharmacy.supply,
        study=pharmacy.study,
        batch=pharmacy.batch,
        per_content=20,
        pattern="MC-{seq:04}",
    )
    assert [k.number for k in listed] == [f"MC-{i:04}" for i in range(1, 41)]
    contents = [k.content for k in listed]
    assert contents.count("experimental") == contents.count("placebo") == 20
    # Numbered by arm, the first twenty would all hold one arm: 1 chance in 6.9e10 by chance.
    assert len(set(contents[:20])) == 2
    more = kits_generate(
        actor=pharmacy.supply,
        study=pharmacy.study,
        batch=pharmacy.batch,
        per_content=1,
        pattern="MC-{seq:04}",
    )
    assert [k.number for k in more] == ["MC-0041", "MC-0042"]
    with pytest.raises(ValidationError, match=r"put \{seq\}"):
        kits_generate(
            actor=pharmacy.supply,
            study=pharmacy.study,
            batch=pharmacy.batch,
            per_content=1,
            pattern="MC",
        )


def test_relabelling_a_batch_gives_its_kits_the_new_expiry_with_the_reason(
    pharmacy: Pharmacy,
) -> None:
    pharmacy.stock(3)
    kits = kits_relabel(
        actor=pharmacy.supply,
        study=pharmacy.study,
        expiry=date(2028, 6, 30),
        reason="extension letter 2026-014",
        batch=pharmacy.batch,
    )
    assert {k.expiry for k in Kit.objects.all()} == {date(2028, 6, 30)}
    assert len(kits) == 3
    moves = StockMovement.objects.filter(kind="relabelled")
    assert {(m.actor, m.reason) for m in moves} == {
        (pharmacy.supply.display_name(), "extension letter 2026-014")
    }
    event = AuditEvent.objects.filter(action="pharmacy.kit_relabelled").first()
    assert event is not None
    assert event.old["expiry"] == "2027-06-30"
    assert event.new["expiry"] == "2028-06-30"
    assert event.reason == "extension letter 2026-014"


def test_relabelling_refuses_an_earlier_expiry_and_a_missing_reason(pharmacy: Pharmacy) -> None:
    pharmacy.stock(2)
    with pytest.raises(ValidationError, match="kit K001: the new expiry must come after"):
        kits_relabel(
            actor=pharmacy.supply,
            study=pharmacy.study,
            expiry=date(2027, 1, 1),
            reason="typo",
            numbers=["K001"],
        )
    with pytest.raises(ValidationError, match="reason"):
        kits_relabel(
            actor=pharmacy.supply,
            study=pharmacy.study,
            expiry=date(2028, 1, 1),
            reason=" ",
            numbers=["K001"],
        )
    with pytest.raises(PermissionDenied):  # at the depot: not the site pharmacist's kits
        kits_relabel(
            actor=pharmacy.pharmacist,
            study=pharmacy.study,
            expiry=date(2028, 1, 1),
            reason="extension",
            numbers=["K001"],
        )


def test_a_batch_belongs_to_a_product_of_the_study(pharmacy: Pharmacy) -> None:
    with pytest.raises(ValidationError, match="'aspirin' is not a product of the study"):
        batch_create(
            actor=pharmacy.supply,
            study=pharmacy.study,
            product="aspirin",
            number="X1",
            expiry=date(2027, 1, 1),
        )
