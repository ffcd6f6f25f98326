"""ODM 1.3.2 export: valid against the official schema, blinded, never identifying, reproducible."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.capture.services import form_save
from carnet.interop.models import Cutoff
from carnet.interop.odm.export import odm_write
from carnet.interop.services import cutoff_create
from carnet.subjects.services import identity_set, subject_settings_set
from tests.accounts.personas import ADMIN
from tests.interop.conftest import INITIALS, KIT, Exporting

pytestmark = pytest.mark.django_db

# The official schema as CDISC publishes it (MIT licence), shipped with Carnet; the copy is
# checked against ../shared/cdisc beside the repository where that folder is there.
OFFICIAL = Path(__file__).resolve().parents[2] / "src" / "carnet" / "interop" / "odm" / "schema"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "cdisc" / "odm-1.3.2"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def official_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(OFFICIAL / "ODM1-3-2.xsd"), parser))


def assert_valid(content: bytes) -> etree._Element:
    schema = official_schema()
    root = etree.fromstring(content)
    assert schema.validate(root), [str(error) for error in schema.error_log][:5]
    return root


def test_the_shipped_schema_is_the_official_one() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/cdisc is not beside this checkout")
    for official in SHARED.glob("*.xsd"):
        assert (OFFICIAL / official.name).read_bytes() == official.read_bytes()


def odm(e: Exporting, cutoff: Cutoff, **options: Any) -> bytes:
    target = io.BytesIO()
    odm_write(
        actor=options.pop("actor", e.statistician),
        study=e.world.study,
        cutoff=cutoff,
        target=target,
        **options,
    )
    return target.getvalue()


def cut(e: Exporting, name: str = "DSMB-1") -> Cutoff:
    return cutoff_create(
        actor=e.statistician,
        study=e.world.study,
        name=name,
        reason="First DSMB",
        cut_on=date(2026, 2, 1),
    )


def values(root: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in root.iterfind(".//odm:ItemData", NS):
        found.setdefault(item.get("ItemOID"), []).append(item.get("Value") or "")
    return found


def test_a_snapshot_is_valid_odm_with_the_values_at_the_cutoff(exporting: Exporting) -> None:
    root = assert_valid(odm(exporting, cut(exporting)))
    assert root.get("FileType") == "Snapshot"
    found = values(root)
    assert found["I.WEIGHT"] == ["70.5"]
    assert sorted(found["I.DIAMETER"]) == ["25", "40"]
    lesions = root.findall(".//odm:ItemGroupData[@ItemGroupRepeatKey]", NS)
    assert sorted(g.get("ItemGroupRepeatKey") for g in lesions) == ["1", "2"]
    subject = root.find(".//odm:SubjectData", NS)
    assert subject.get("SubjectKey") == exporting.subject.identifier
    assert subject.find("odm:SiteRef", NS).get("LocationOID") == "LOC.01"


def test_the_metadata_carry_both_languages_units_ranges_and_code_lists(
    exporting: Exporting,
) -> None:
    root = assert_valid(odm(exporting, cut(exporting)))
    weight = root.find(".//odm:ItemDef[@OID='I.WEIGHT']", NS)
    texts = {
        t.get("{http://www.w3.org/XML/1998/namespace}lang"): t.text
        for t in weight.iterfind("odm:Question/odm:TranslatedText", NS)
    }
    assert set(texts) == {"en", "fr"}
    assert weight.get("DataType") == "float"
    assert weight.find("odm:MeasurementUnitRef", NS) is not None
    assert root.find(".//odm:BasicDefinitions/odm:MeasurementUnit", NS) is not None
    decodes = root.findall(".//odm:CodeList/odm:CodeListItem/odm:Decode/odm:TranslatedText", NS)
    assert {d.get("{http://www.w3.org/XML/1998/namespace}lang") for d in decodes} == {"en", "fr"}
    assert root.find(".//odm:ItemDef/odm:RangeCheck/odm:CheckValue", NS) is not None


def test_no_identifying_value_and_for_the_blinded_no_arm_revealing_item(
    exporting: Exporting,
) -> None:
    content = odm(exporting, cut(exporting))
    assert INITIALS.encode() not in content
    assert KIT.encode() not in content
    assert b"kit_number" not in content
    assert b"initials" not in content
    unblinded = odm(exporting, cut(exporting, "DSMB-2"), actor=exporting.unblinded, unblinded=True)
    assert_valid(unblinded)
    assert KIT.encode() in unblinded
    assert INITIALS.encode() not in unblinded


def test_no_value_of_the_identity_vault_leaves(exporting: Exporting) -> None:
    e = exporting
    subject_settings_set(
        actor=ADMIN, study=e.world.study, central_eligibility_review=False, identity_vault=True
    )
    identity_set(
        actor=e.entry,
        subject=e.subject,
        values={"last_name": "Durandeau", "first_name": "Josiane", "national_id": "2850399123456"},
    )
    content = odm(e, cut(e), actor=e.unblinded, unblinded=True, mode="transactional")
    for secret in (b"Durandeau", b"Josiane", b"2850399123456"):
        assert secret not in content


def test_a_blinded_statistician_cannot_ask_for_an_unblinded_odm_export(
    exporting: Exporting,
) -> None:
    with pytest.raises(PermissionDenied, match="needs an unblinded role"):
        odm(exporting, cut(exporting), unblinded=True)
    with pytest.raises(PermissionDenied):
        odm(exporting, cut(exporting, "X"), actor=exporting.monitor)


def test_a_transactional_file_has_every_change_with_who_when_and_why(exporting: Exporting) -> None:
    e = exporting
    form_save(
        actor=e.entry,
        subject=e.subject,
        event="baseline",
        form="vitals",
        base_version=1,
        values={"weight": "71"},
        reason="Scale recalibrated",
    )
    root = assert_valid(odm(e, cut(e), mode="transactional"))
    assert root.get("FileType") == "Transactional"
    weights = root.findall(".//odm:ItemData[@ItemOID='I.WEIGHT']", NS)
    assert [w.get("Value") for w in weights] == ["70.5", "71"]
    record = weights[-1].find("odm:AuditRecord", NS)
    assert record.find("odm:ReasonForChange", NS).text == "Scale recalibrated"
    user = record.find("odm:UserRef", NS).get("UserOID")
    assert root.find(f".//odm:AdminData/odm:User[@OID='{user}']", NS) is not None
    assert record.find("odm:DateTimeStamp", NS).text.endswith("Z")


def test_the_same_cutoff_gives_the_same_bytes_and_the_export_is_audited(
    exporting: Exporting,
) -> None:
    e = exporting
    cutoff = cut(e)
    first = odm(e, cutoff)
    form_save(
        actor=e.entry,
        subject=e.subject,
        event="baseline",
        form="vitals",
        base_version=1,
        values={"weight": "90"},
        reason="Later",
    )
    assert odm(e, cutoff) == first
    made = AuditEvent.objects.filter(action="export.made").last()
    assert made is not None
    assert made.new["format"] == "odm"
