"""The ICH E2B(R3) individual case safety report of one version of an SAE report: an HL7 v3
batch ``MCCI_IN200100UV01`` holding one ``PORR_IN049016UV`` message, with the elements the
Implementation Guide requires (C.1 identification, C.2 primary source, C.3 sender, C.5 study,
D patient, E reaction, G drugs, H narrative) and its OIDs and code systems.

Carnet validates the message against the ICH schema files when an administrator points it to
them (``CARNET_E2B_SCHEMA``: the path of ``MCCI_IN200100UV01.xsd``; they are not bundled), and
never resolves an entity while doing so.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from lxml import etree

from carnet.core.errors import ConfigurationError, ValidationError
from carnet.safety.case_data import CRITERIA, field_text, is_yes
from carnet.safety.models import SaeReport, SaeReportVersion

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: HL7, "xsi": XSI}

# OIDs of the ICH E2B(R3) Implementation Guide (appendix: ICH code systems and identifiers).
OID_BATCH_NUMBER = "2.16.840.1.113883.3.989.2.1.3.22"  # N.1.2
OID_BATCH_SENDER = "2.16.840.1.113883.3.989.2.1.3.13"  # N.1.3
OID_BATCH_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.14"  # N.1.4
OID_MESSAGE_NUMBER = "2.16.840.1.113883.3.989.2.1.3.1"  # N.2.r.1 and C.1.1
OID_MESSAGE_SENDER = "2.16.840.1.113883.3.989.2.1.3.11"  # N.2.r.2
OID_MESSAGE_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.12"  # N.2.r.3
OID_WORLDWIDE_NUMBER = "2.16.840.1.113883.3.989.2.1.3.2"  # C.1.8.1
OID_INTERACTION = "2.16.840.1.113883.1.6"
OID_TRIGGER = "2.16.840.1.113883.1.18"
OID_ICH_OBSERVATION = "2.16.840.1.113883.3.989.2.1.1.19"  # ICH observation codes
OID_ICH_ORGANIZER = "2.16.840.1.113883.3.989.2.1.1.20"
OID_REPORT_TYPE = "2.16.840.1.113883.3.989.2.1.1.2"  # C.1.3
OID_CHARACTERISTIC = "2.16.840.1.113883.3.989.2.1.1.23"
OID_OUTCOME = "2.16.840.1.113883.3.989.2.1.1.11"  # E.i.7
OID_DRUG_ROLE = "2.16.840.1.113883.3.989.2.1.1.13"  # G.k.1
OID_STUDY_TYPE = "2.16.840.1.113883.3.989.2.1.1.8"  # C.5.4
OID_SENDER_TYPE = "2.16.840.1.113883.3.989.2.1.1.7"  # C.3.1
OID_BATCH_TYPE = "2.16.840.1.113883.3.989.2.1.1.1"  # N.1.1
OID_MEDDRA = "2.16.840.1.113883.6.163"
OID_SEX = "1.0.5218"  # ISO 5218
OID_ACT_CODE = "2.16.840.1.113883.5.4"
OID_STUDY_REGISTRATION = "2.16.840.1.113883.3.989.2.1.3.6"

# E.i.3.2 seriousness criteria: ICH observation codes.
CRITERION_CODES = {
    "death": "34",  # results in death
    "life_threatening": "21",
    "hospitalisation": "33",
    "disability": "35",
    "congenital_anomaly": "12",
    "medically_important": "26",
}
# E.i.7 outcome: 1 recovered, 2 recovering, 3 not recovered, 4 with sequelae, 5 fatal, 0 unknown.
OUTCOMES = {
    "recovered / resolved": "1",
    "recovering / resolving": "2",
    "not recovered / not resolved": "3",
    "recovered with sequelae": "4",
    "fatal": "5",
    "unknown": "0",
}


def _e(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7}}}{tag}")
    for key, value in attributes.items():
        if key == "xsi_type":
            element.set(f"{{{XSI}}}type", value)
        else:
            element.set(key.rstrip("_"), value)
    if text is not None:
        element.text = text
    return element


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _day(text: str) -> str:
    return text[:10].replace("-", "")


def _device(parent: etree._Element, type_code: str, extension: str, root: str) -> None:
    role = _e(parent, "receiver" if type_code == "RCV" else "sender", typeCode=type_code)
    device = _e(role, "device", classCode="DEV", determinerCode="INSTANCE")
    _e(device, "id", extension=extension, root=root)


def _observation(parent: etree._Element, observation_code: str, **value: str) -> etree._Element:
    relationship = _e(parent, "outboundRelationship2", typeCode="PERT")
    observation = _e(relationship, "observation", classCode="OBS", moodCode="EVN")
    _e(observation, "code", code=observation_code, codeSystem=OID_ICH_OBSERVATION)
    _e(observation, "value", **value)
    return observation


def _reaction(parent: etree._Element, content: dict[str, Any]) -> None:
    subject_of = _e(parent, "subjectOf2", typeCode="SBJ")
    reaction = _e(subject_of, "observation", classCode="OBS", moodCode="EVN")
    _e(reaction, "id", root=str(uuid.uuid5(uuid.NAMESPACE_URL, "reaction:" + content["subject"])))
    _e(reaction, "code", code="29", codeSystem=OID_ICH_OBSERVATION)  # reaction / event
    window = _e(reaction, "effectiveTime", xsi_type="IVL_TS")
    onset, end = field_text(content, "onset"), field_text(content, "end")
    if onset:
        _e(window, "low", value=_day(onset))
    if end:
        _e(window, "high", value=_day(end))
    value = _e(reaction, "value", xsi_type="CE", codeSystem=OID_MEDDRA)
    _e(value, "originalText", field_text(content, "term"))  # E.i.1.1: as reported
    event = content.get("adverse_event", {})
    for name in CRITERIA:
        _observation(
            reaction,
            CRITERION_CODES[name],
            xsi_type="BL",
            value="true" if is_yes(event.get(name)) else "false",
        )
    outcome = OUTCOMES.get(field_text(content, "outcome").strip().lower(), "0")
    _observation(reaction, "27", xsi_type="CE", code=outcome, codeSystem=OID_OUTCOME)


def _drugs(parent: etree._Element, content: dict[str, Any]) -> None:
    for role, rows, name in (
        ("1", content.get("suspect", []), "EXTRT"),
        ("2", content.get("concomitant", []), "CMTRT"),
    ):
        for row in rows:
            subject_of = _e(parent, "subjectOf2", typeCode="SBJ")
            organizer = _e(subject_of, "organizer", classCode="CATEGORY", moodCode="EVN")
            _e(organizer, "code", code="4", codeSystem=OID_ICH_ORGANIZER)  # drug information
            component = _e(organizer, "component", typeCode="COMP")
            administration = _e(
                component, "substanceAdministration", classCode="SBADM", moodCode="EVN"
            )
            _e(administration, "id", root=str(uuid.uuid4()))
            consumable = _e(administration, "consumable", typeCode="CSM")
            kind = _e(consumable, "instanceOfKind", classCode="INST")
            product = _e(kind, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
            _e(product, "name", str(row.get(name, {}).get("text", "")))  # G.k.2.2
            characterisation = _e(administration, "inboundRelationship", typeCode="RSON")
            _observation_drug_role(characterisation, role)


def _observation_drug_role(parent: etree._Element, role: str) -> None:
    observation = _e(parent, "observation", classCode="OBS", moodCode="EVN")
    _e(observation, "code", code="20", codeSystem=OID_ICH_OBSERVATION)  # drug role
    _e(observation, "value", xsi_type="CE", code=role, codeSystem=OID_DRUG_ROLE)  # G.k.1


def _patient(parent: etree._Element, report: SaeReport, content: dict[str, Any]) -> None:
    component = _e(parent, "component", typeCode="COMP")
    assessment = _e(component, "adverseEventAssessment", classCode="INVSTG", moodCode="EVN")
    subject1 = _e(assessment, "subject1", typeCode="SBJ")
    role = _e(subject1, "primaryRole", classCode="INVSBJ")
    player = _e(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    # D.1: the subject's study identifier, never a name (pseudonymised data).
    _e(player, "name", content["subject"])
    _reaction(role, content)
    _drugs(role, content)
    if report.sponsor_causality is not None:
        causality = _e(assessment, "component", typeCode="COMP")
        observation = _e(causality, "causalityAssessment", classCode="OBS", moodCode="EVN")
        _e(observation, "code", code="39", codeSystem=OID_ICH_OBSERVATION)  # causality
        _e(observation, "value", xsi_type="ST").text = str(
            report.sponsor_causality
        )  # G.k.9.i.2.r.3


def _case(
    parent: etree._Element, report: SaeReport, version: SaeReportVersion, sender: str, now: datetime
) -> None:
    content = version.content
    control = _e(parent, "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(control, "code", code="PORR_TE049016UV", codeSystem=OID_TRIGGER)
    _e(control, "effectiveTime", value=_ts(now))
    subject = _e(control, "subject", typeCode="SUBJ")
    case = _e(subject, "investigationEvent", classCode="INVSTG", moodCode="EVN")
    case_id = f"FR-{sender}-{report.reference}"
    _e(case, "id", extension=case_id, root=OID_MESSAGE_NUMBER)  # C.1.1
    _e(case, "id", extension=case_id, root=OID_WORLDWIDE_NUMBER)  # C.1.8.1
    _e(case, "code", code="PAT_ADV_EVNT", codeSystem=OID_ACT_CODE)
    _e(case, "text", version.narrative or content.get("narrative", ""))  # H.1
    _e(case, "statusCode", code="active")
    first = report.versions.filter(number=1).first()
    received = first.sent_at if first and first.sent_at else now
    window = _e(case, "effectiveTime")
    _e(window, "low", value=_ts(received))  # C.1.4: first received
    _e(case, "availabilityTime", value=_ts(version.sent_at or now))  # C.1.5: most recent
    _patient(case, report, content)
    # C.1.3 type of report: 2 = report from study; C.5.4 study type: 1 = clinical trial.
    characteristic = _e(case, "subjectOf2", typeCode="SUBJ")
    observation = _e(characteristic, "investigationCharacteristic", classCode="OBS", moodCode="EVN")
    _e(observation, "code", code="1", codeSystem=OID_CHARACTERISTIC)
    _e(observation, "value", xsi_type="CE", code="2", codeSystem=OID_REPORT_TYPE)
    study = _e(case, "subjectOf1", typeCode="SUBJ")
    research = _e(study, "researchStudy", classCode="CLNTRL", moodCode="EVN")
    _e(research, "id", extension=report.study.identifier, root=OID_STUDY_REGISTRATION)  # C.5.1
    _e(research, "title", report.study.identifier)  # C.5.2
    _e(research, "code", code="1", codeSystem=OID_STUDY_TYPE)  # C.5.4


def icsr_xml(
    report: SaeReport,
    version: SaeReportVersion,
    *,
    sender: str = "CARNET",
    now: datetime | None = None,
) -> bytes:
    """Return the E2B(R3) ICSR of one version of the report (UTF-8 XML)."""
    from carnet.core.clock import utc_now

    now = now or utc_now()
    batch = etree.Element(f"{{{HL7}}}MCCI_IN200100UV01", nsmap=NSMAP)
    batch.set("ITSVersion", "XML_1.0")
    number = f"{report.reference}-v{version.number}"
    _e(batch, "id", extension=number, root=OID_BATCH_NUMBER)  # N.1.2
    _e(batch, "creationTime", value=_ts(now))  # N.1.5
    _e(batch, "responseModeCode", code="D")
    _e(batch, "interactionId", extension="MCCI_IN200100UV01", root=OID_INTERACTION)
    _e(batch, "name", code="1", codeSystem=OID_BATCH_TYPE)  # N.1.1: ichicsr
    message = _e(batch, "PORR_IN049016UV")
    _e(message, "id", extension=number, root=OID_MESSAGE_NUMBER)  # N.2.r.1
    _e(message, "creationTime", value=_ts(now))
    _e(message, "interactionId", extension="PORR_IN049016UV", root=OID_INTERACTION)
    _e(message, "processingCode", code="P")
    _e(message, "processingModeCode", code="T")
    _e(message, "acceptAckCode", code="AL")
    _device(message, "RCV", "EVHUMAN", OID_MESSAGE_RECEIVER)  # N.2.r.3
    _device(message, "SND", sender, OID_MESSAGE_SENDER)  # N.2.r.2
    _case(message, report, version, sender, now)
    _device(batch, "RCV", "EVHUMAN", OID_BATCH_RECEIVER)  # N.1.4
    _device(batch, "SND", sender, OID_BATCH_SENDER)  # N.1.3
    xml: bytes = etree.tostring(batch, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    _validate(xml)
    return xml


def schema_path() -> Path | None:
    """Return the ICH schema the administrator pointed Carnet to, if any."""
    configured = getattr(settings, "CARNET_E2B_SCHEMA", "") or os.environ.get(
        "CARNET_E2B_SCHEMA", ""
    )
    return Path(configured) if configured else None


def safe_parser() -> etree.XMLParser:
    """A parser that never resolves an entity, loads a DTD or reads the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_refusing_entities(data: bytes) -> etree._Element:
    """Parse XML, refusing a document that declares a DTD or entity (XXE)."""
    root = etree.fromstring(data, safe_parser())
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise ValidationError("The XML declares a DTD or entities: refused.")
    return root


def _validate(xml: bytes) -> None:
    path = schema_path()
    if path is None:
        return
    if not path.is_file():
        raise ConfigurationError(f"CARNET_E2B_SCHEMA names no file: {path}")
    schema = etree.XMLSchema(etree.parse(str(path), safe_parser()))
    document = etree.fromstring(xml, safe_parser())
    if not schema.validate(document):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5])
        raise ValidationError(f"The ICSR is not valid against the ICH schema: {errors}")
