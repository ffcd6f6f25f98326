# ruff: noqa: E501  (the Implementation Guide's paths read better whole)
"""Reports out: the CIOMS-I form (PDF) and the E2B(R3) ICSR (XML) of a version hold the case's
data (parsed back), the ICSR has the Implementation Guide's required elements and code systems,
is checked against the ICH schema when one is configured, and XML declaring entities is
refused; the line listing of a period."""

from __future__ import annotations

import csv
import io
import re
import zlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from lxml import etree

from carnet.core.errors import ValidationError
from carnet.core.pdf import PdfUnavailable
from carnet.safety.documents import cioms_html, cioms_pdf, line_listing_csv
from carnet.safety.e2b import HL7, icsr_xml, parse_refusing_entities
from carnet.safety.models import SaeReport
from carnet.safety.services import rsi_add, sae_assess, sae_version_prepare, sae_version_sign
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."
N = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}

# The ICH E2B(R3) Implementation Guide's required path of each element the ICSR must carry
# (batch N.1, message N.2, case C.1, patient D, reaction E, drug G, narrative H), with the
# code system of its coded value where the guide fixes one.
REQUIRED = {
    "N.1.2 batch number": "h:id[@root='2.16.840.1.113883.3.989.2.1.3.22']",
    "N.1.5 batch date": "h:creationTime",
    "N.1.1 batch type": "h:name[@codeSystem='2.16.840.1.113883.3.989.2.1.1.1']",
    "N.1.3 batch sender": "h:sender/h:device/h:id[@root='2.16.840.1.113883.3.989.2.1.3.13']",
    "N.1.4 batch receiver": "h:receiver/h:device/h:id[@root='2.16.840.1.113883.3.989.2.1.3.14']",
    "N.2.r.1 message number": "h:PORR_IN049016UV/h:id[@root='2.16.840.1.113883.3.989.2.1.3.1']",
    "N.2.r.2 message sender": "h:PORR_IN049016UV/h:sender/h:device/h:id[@root='2.16.840.1.113883.3.989.2.1.3.11']",
    "N.2.r.3 message receiver": "h:PORR_IN049016UV/h:receiver/h:device/h:id[@root='2.16.840.1.113883.3.989.2.1.3.12']",
    "trigger event": "h:PORR_IN049016UV/h:controlActProcess/h:code[@code='PORR_TE049016UV']",
}
CASE = "h:PORR_IN049016UV/h:controlActProcess/h:subject/h:investigationEvent"
REACTION = (
    CASE + "/h:component/h:adverseEventAssessment/h:subject1/h:primaryRole/h:subjectOf2/"
    "h:observation[h:code/@code='29']"
)
REQUIRED_IN_CASE = {
    "C.1.1 safety report id": CASE + "/h:id[@root='2.16.840.1.113883.3.989.2.1.3.1']",
    "C.1.8.1 worldwide unique id": CASE + "/h:id[@root='2.16.840.1.113883.3.989.2.1.3.2']",
    "C.1.4 first received": CASE + "/h:effectiveTime/h:low",
    "C.1.5 most recent": CASE + "/h:availabilityTime",
    "C.1.3 type of report": CASE
    + "/h:subjectOf2/h:investigationCharacteristic/h:value[@codeSystem='2.16.840.1.113883.3.989.2.1.1.2']",
    "C.5 study": CASE + "/h:subjectOf1/h:researchStudy/h:id",
    "D.1 patient": CASE
    + "/h:component/h:adverseEventAssessment/h:subject1/h:primaryRole/h:player1/h:name",
    "E.i.1 reaction (MedDRA)": REACTION + "/h:value[@codeSystem='2.16.840.1.113883.6.163']",
    "E.i.3.2 seriousness": REACTION + "/h:outboundRelationship2/h:observation/h:code[@code='21']",
    "E.i.7 outcome": REACTION
    + "/h:outboundRelationship2/h:observation/h:value[@codeSystem='2.16.840.1.113883.3.989.2.1.1.11']",
    "G.k.1 drug role": CASE
    + "//h:substanceAdministration//h:value[@codeSystem='2.16.840.1.113883.3.989.2.1.1.13']",
    "H.1 narrative": CASE + "/h:text",
}


def _streams(pdf: bytes) -> list[bytes]:
    """Return the PDF's streams, inflated where they are compressed."""
    found = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            found.append(zlib.decompress(match.group(1)))
        except zlib.error:
            found.append(match.group(1))
    return found


def _sent_and_assessed(safety: Safety) -> SaeReport:
    with time_machine.travel(datetime(2027, 3, 5, 10, 0, tzinfo=UTC), tick=False):
        report = safety.serious_ae()
        sae_version_prepare(actor=safety.investigator, report=report, narrative="Admitted day 12.")
        sae_version_sign(
            actor=safety.investigator, report=report, password=PASSWORD, meaning=MEANING
        )
    rsi_add(
        actor=safety.vigilance,
        study=safety.world.study,
        version="IB v1",
        effective_from=date(2025, 6, 1),
        expected_terms=["Anaemia"],
    )
    return sae_assess(actor=safety.vigilance, report=report, causality=4)


def test_the_icsr_holds_the_case_and_every_required_element(safety: Safety) -> None:
    report = _sent_and_assessed(safety)
    version = report.versions.get(number=1)
    root = parse_refusing_entities(icsr_xml(report, version))
    assert root.tag == f"{{{HL7}}}MCCI_IN200100UV01"
    for name, path in {**REQUIRED, **REQUIRED_IN_CASE}.items():
        assert root.xpath(path, namespaces=N), name
    [term] = root.xpath(REACTION + "/h:value/h:originalText/text()", namespaces=N)
    assert term == TERM
    [onset] = root.xpath(REACTION + "/h:effectiveTime/h:low/@value", namespaces=N)
    assert onset == "20260202"
    [life] = root.xpath(
        REACTION + "/h:outboundRelationship2/h:observation[h:code/@code='21']/h:value/@value",
        namespaces=N,
    )
    assert life == "true"
    [death] = root.xpath(
        REACTION + "/h:outboundRelationship2/h:observation[h:code/@code='34']/h:value/@value",
        namespaces=N,
    )
    assert death == "false"
    assert root.xpath(CASE + "/h:text/text()", namespaces=N) == ["Admitted day 12."]
    assert root.xpath("//h:kindOfProduct/h:name/text()", namespaces=N) == ["Paracetamol"]
    [patient] = root.xpath(REQUIRED_IN_CASE["D.1 patient"] + "/text()", namespaces=N)
    assert patient == safety.subject.identifier


def test_the_icsr_is_checked_against_the_ich_schema_when_configured(
    safety: Safety, tmp_path: Path, settings: object
) -> None:
    report = _sent_and_assessed(safety)
    version = report.versions.get(number=1)
    # A stand-in schema (the ICH files are not bundled) that wants another root element.
    schema = tmp_path / "MCCI_IN200100UV01.xsd"
    schema.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3">'
        '<xs:element name="Other"/></xs:schema>',
        encoding="utf-8",
    )
    settings.CARNET_E2B_SCHEMA = str(schema)  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="not valid against the ICH schema"):
        icsr_xml(report, version)
    schema.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3">'
        '<xs:element name="MCCI_IN200100UV01"><xs:complexType><xs:sequence>'
        '<xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/>'
        '</xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>'
        "</xs:schema>",
        encoding="utf-8",
    )
    assert icsr_xml(report, version).startswith(b"<?xml")


def test_xml_with_an_external_entity_is_refused() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    )
    with pytest.raises(ValidationError, match="DTD or entities"):
        parse_refusing_entities(hostile)


def test_the_cioms_form_holds_the_case(safety: Safety) -> None:
    report = _sent_and_assessed(safety)
    version = report.versions.get(number=1)
    html = cioms_html(report, version, arm="(blinded)")
    page = etree.fromstring(html.encode(), etree.HTMLParser())
    cells = " ".join(page.xpath("//td//text()"))
    assert TERM in cells
    assert "2026-02-02" in cells
    assert "Paracetamol" in cells
    assert "Admitted day 12." in cells
    assert "[X] Life threatening" in " ".join(page.xpath("//li//text()"))
    assert "[ ] Patient died" in " ".join(page.xpath("//li//text()"))
    try:
        pdf = cioms_pdf(report, version, arm="(blinded)")
    except PdfUnavailable:
        pytest.skip("no Pango on this machine")
    assert pdf.startswith(b"%PDF")
    # The document's title (its metadata, in a compressed object stream) names the case.
    assert any(report.reference.encode() in stream for stream in _streams(pdf))


def test_the_line_listing_of_a_period(safety: Safety) -> None:
    report = _sent_and_assessed(safety)
    reports = SaeReport.objects.filter(study=safety.world.study)
    text = line_listing_csv(reports, start=date(2027, 3, 1), end=date(2027, 3, 31))
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["reference"] == report.reference
    assert row["term"] == TERM
    assert row["susar"] == "yes"
    assert row["susar_due_on"] == "2027-03-12"
    assert row["criteria"] == "life_threatening hospitalisation"
    empty = line_listing_csv(reports, start=date(2027, 4, 1), end=date(2027, 4, 30))
    assert empty.count("\n") == 1  # the header alone
