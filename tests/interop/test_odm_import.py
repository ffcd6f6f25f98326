"""ODM 1.3.2 import of a study definition: `carnet study import-odm FILE`.

The two CDISC example files (tests/interop/fixtures/odm, MIT licence, copied from
../shared/cdisc/examples): the valid one becomes a study that loads; the one that declares 1.3.2
but uses ODM 2.0 elements is refused with its line. Hostile XML is refused before anything is
resolved or written.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.capture.bulk.engine import ImportRefused
from carnet.interop.odm.data_import import odm_data_import
from carnet.interop.odm.export import odm_write
from carnet.interop.odm.reading import OdmRefused, odm_parse
from carnet.interop.services import cutoff_create
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load
from tests.accounts.personas import person
from tests.interop.conftest import Exporting
from tests.interop.test_odm_export import NS

FIXTURES = Path(__file__).parent / "fixtures" / "odm"
VALID = FIXTURES / "MetaData_Dave_1_3_2_extra_languages.xml"
ODM2 = FIXTURES / "Hypercholesterolemia_CV_Risk_factors_FH_CRF_1_3_2.xml"
SECRET = "carnet-secret-never-read"

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE ODM [<!ENTITY leak SYSTEM "file://{path}">]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="X" FileType="Snapshot"
     CreationDateTime="2026-01-01T00:00:00" ODMVersion="1.3.2">
  <Study OID="LEAK"><GlobalVariables><StudyName>&leak;</StudyName>
  <StudyDescription>x</StudyDescription><ProtocolName>x</ProtocolName></GlobalVariables></Study>
</ODM>
"""
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE ODM [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">\n'
        for n in range(1, 10)
    )
    + ']>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="X" FileType="Snapshot" '
    'CreationDateTime="2026-01-01T00:00:00" ODMVersion="1.3.2">&lol9;</ODM>\n'
)


def import_odm(source: Path, output: Path, *extra: str) -> str:
    out = io.StringIO()
    call_command("study", "import-odm", str(source), "--output", str(output), *extra, stdout=out)
    return out.getvalue()


def test_the_valid_cdisc_example_becomes_a_study_that_loads(tmp_path: Path, db: None) -> None:
    output = tmp_path / "ces.yaml"
    printed = import_odm(VALID, output)
    # What could not be carried over is listed element by element, with its line.
    assert "Not carried over: line 374: ItemDef I_SITE: Question in de, ko not carried" in printed
    assert "Presentation PR.001" in printed
    assert "data type URI has no Carnet type" in printed
    assert "MethodDef METH.001: calculation not carried" in printed
    text = output.read_text(encoding="utf-8")
    assert "# Not carried over: line 374" in text
    study_file = study_file_read(output)
    definition = study_file.definition
    assert definition.identifier == "CES"
    assert len(definition.events) == 5
    sex = next(item for _f, _g, item in definition.items() if item.oid == "I_SEX")
    assert sex.type == "single_choice"
    assert sex.label.fr
    weight = next(item for _f, _g, item in definition.items() if item.oid == "I_WEIGHT")
    assert weight.units == "kg" or weight.units
    outcome = study_load(
        actor=SystemActor(label="pytest"), study_file=study_file, source_name=str(output)
    )
    assert outcome.outcome == "created"
    assert Study.objects.filter(identifier="CES").exists()


def test_a_file_declaring_1_3_2_with_odm_2_elements_is_refused_naming_the_line(
    tmp_path: Path, db: None
) -> None:
    output = tmp_path / "matrix.yaml"
    with pytest.raises(CommandError, match=r"line 13: not valid ODM 1\.3\.2.*ItemGroupRef"):
        import_odm(ODM2, output)
    assert not output.exists()
    with translation.override("fr"), pytest.raises(CommandError, match="ligne 13"):
        import_odm(ODM2, output)


def test_an_external_entity_is_refused_and_nothing_is_read_or_written(
    tmp_path: Path, db: None
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    source = tmp_path / "leak.xml"
    source.write_text(EXTERNAL_ENTITY.format(path=secret), encoding="utf-8")
    output = tmp_path / "leak.yaml"
    with pytest.raises(CommandError, match="line 2: a DOCTYPE or entity declaration") as refused:
        import_odm(source, output)
    assert SECRET not in str(refused.value)
    assert not output.exists()


def test_a_billion_laughs_is_refused_at_once(tmp_path: Path, db: None) -> None:
    source = tmp_path / "laughs.xml"
    source.write_text(BILLION_LAUGHS, encoding="utf-8")
    output = tmp_path / "laughs.yaml"
    with pytest.raises(CommandError, match="DOCTYPE or entity declaration"):
        import_odm(source, output)
    assert not output.exists()


def test_the_parser_itself_resolves_no_external_entity(tmp_path: Path) -> None:
    # Below the DOCTYPE check, the parser is told not to resolve: the entity stays unexpanded.
    from lxml import etree

    from carnet.interop.odm.reading import safe_parser

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    root = etree.fromstring(EXTERNAL_ENTITY.format(path=secret).encode(), safe_parser())
    assert SECRET not in etree.tostring(root).decode()


def test_a_file_over_the_size_limit_is_refused(settings: object) -> None:
    settings.CARNET_ODM_MAX_MEGABYTES = 1  # type: ignore[attr-defined]
    with pytest.raises(OdmRefused, match="over the limit of 1 MB"):
        odm_parse(b" " * (2 * 1024 * 1024))


# --- clinical data: the round trip ---------------------------------------------------------


def clinical(content: bytes) -> dict[tuple[str, ...], str]:
    """Return every value of an ODM file's clinical data by where it is."""
    from lxml import etree

    root = etree.fromstring(content)
    found = {}
    for item in root.iterfind(".//odm:ItemData", NS):
        group = item.getparent()
        form = group.getparent()
        event = form.getparent()
        subject = event.getparent()
        key = (
            subject.get("SubjectKey"),
            event.get("StudyEventOID"),
            event.get("StudyEventRepeatKey") or "1",
            form.get("FormOID"),
            form.get("FormRepeatKey") or "1",
            group.get("ItemGroupOID"),
            group.get("ItemGroupRepeatKey") or "0",
            item.get("ItemOID"),
        )
        found[key] = item.get("Value") or ""
    return found


def new_study_like(e: Exporting, tmp_path: Path) -> tuple[Study, object]:
    """Return a new study with MINI's definition (as amended) and the same subject at site A."""
    from carnet.accounts.roles import Role
    from carnet.accounts.services import site_activate, site_add
    from carnet.studies.services import study_mode_change, study_publish
    from tests.accounts.personas import ADMIN, World, person
    from tests.capture.conftest import include

    text = (tmp_path / "mini.yaml").read_text(encoding="utf-8")
    copy = tmp_path / "mini2.yaml"
    copy.write_text(text.replace("identifier: MINI", "identifier: MINI2"), encoding="utf-8")
    study = study_load(
        actor=ADMIN, study_file=study_file_read(copy), source_name="mini2.yaml"
    ).study
    study_publish(actor=ADMIN, study=study)
    site = site_activate(
        actor=ADMIN,
        site=site_add(actor=ADMIN, study=study, centre=e.world.site_a.centre),
        on=date(2025, 1, 1),
    )
    study_mode_change(actor=ADMIN, study=study, mode="production")
    study.refresh_from_db()
    entry = person("jeanne", study=study, role=Role.DATA_ENTRY, sites=[site])
    subject = include(World(study, site, site), entry)
    assert subject.identifier == e.subject.identifier
    return study, entry


@pytest.mark.django_db
def test_export_import_export_gives_the_same_clinical_data(
    exporting: Exporting, tmp_path: Path
) -> None:
    from lxml import etree

    e = exporting
    first = odm_bytes(e.statistician, e.world.study)
    study, entry = new_study_like(e, tmp_path)
    root = etree.fromstring(first)
    dry = odm_data_import(
        actor=entry, study=study, root=root, reason="Moved from MINI", dry_run=True
    )
    assert dry.outcome.problems == []
    assert dry.outcome.dry_run
    made = odm_data_import(actor=entry, study=study, root=root, reason="Moved from MINI")
    assert made.outcome.values_changed > 0
    assert made.recomputed > 0  # bmi and the sum of diameters, computed again
    changed = AuditEvent.objects.filter(chain=study.audit_chain, action="item.changed")
    assert {event.reason for event in changed} == {"Moved from MINI"}
    statistician = person("stan", study=study, role=Role.STATISTICIAN)
    second = odm_bytes(statistician, study)
    assert clinical(second) == clinical(first)
    assert clinical(first)


@pytest.mark.django_db
def test_an_import_with_an_unknown_subject_writes_nothing(
    exporting: Exporting, tmp_path: Path
) -> None:
    from lxml import etree

    e = exporting
    content = odm_bytes(e.statistician, e.world.study).replace(
        b'SubjectKey="01-001"', b'SubjectKey="09-999"'
    )
    study, entry = new_study_like(e, tmp_path)
    before = AuditEvent.objects.filter(chain=study.audit_chain).count()
    with pytest.raises(ImportRefused, match="no subject '09-999'"):
        odm_data_import(actor=entry, study=study, root=etree.fromstring(content), reason="Moved")
    assert AuditEvent.objects.filter(chain=study.audit_chain).count() == before


def odm_bytes(actor: object, study: Study) -> bytes:
    cutoff = cutoff_create(
        actor=actor, study=study, name=f"RT-{study.identifier}", reason="Round trip"
    )
    target = io.BytesIO()
    odm_write(actor=actor, study=study, cutoff=cutoff, target=target)
    return target.getvalue()


def test_a_file_without_a_study_is_refused_and_nothing_is_written(tmp_path: Path, db: None) -> None:
    source = tmp_path / "empty.xml"
    source.write_text(
        '<?xml version="1.0"?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileOID="X" '
        'FileType="Snapshot" CreationDateTime="2026-01-01T00:00:00" ODMVersion="1.3.2"/>\n',
        encoding="utf-8",
    )
    output = tmp_path / "empty.yaml"
    with pytest.raises(CommandError, match="no Study element"):
        import_odm(source, output)
    assert not output.exists()
