"""ODM 1.3.2 import of a study definition: `carnet study import-odm FILE`.

The two CDISC example files (tests/interop/fixtures/odm, MIT licence, copied from
../shared/cdisc/examples): the valid one becomes a study that loads; the one that declares 1.3.2
but uses ODM 2.0 elements is refused with its line. Hostile XML is refused before anything is
resolved or written.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from carnet.audit.services import SystemActor
from carnet.interop.odm.reading import OdmRefused, odm_parse
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load

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
