"""Medical coding: dictionaries loaded all or nothing, auto-coding at the save, the coder's
decisions and queries, recoding with its impact first, CTCAE lookups, the checklist."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.coding import selectors
from carnet.coding.files import DictionaryFileError
from carnet.coding.models import CodedTerm, DictionaryVersion, MeddraLlt, TermStatus
from carnet.coding.services import (
    meddra_load,
    recode_apply,
    recode_impact,
    term_code,
    term_query,
    whodrug_load,
)
from carnet.core.errors import ValidationError
from carnet.database_lock.checklist import uncoded_terms
from carnet.quality.models import Query
from tests.coding.conftest import CLI, Coding
from tests.coding.dictionary import LLTS_V2, write_meddra, write_whodrug

pytestmark = pytest.mark.django_db


def _term(coding: Coding, repeat: int = 1) -> CodedTerm:
    return CodedTerm.objects.get(
        form_instance__subject=coding.safety.subject,
        form_instance__form="adverse_event",
        form_instance__repeat=repeat,
    )


# --- loading ------------------------------------------------------------------------------------


def test_meddra_loads_with_its_hierarchy(coding: Coding) -> None:
    assert coding.meddra.terms == 6
    llt = MeddraLlt.objects.get(dictionary=coding.meddra, code=95000003)
    assert (llt.name, llt.pt_code, llt.current) == ("Feeling sick", 94000002, True)
    assert not MeddraLlt.objects.get(dictionary=coding.meddra, code=95000004).current
    assert AuditEvent.objects.filter(action="coding.dictionary_loaded").count() == 2


@pytest.mark.parametrize(
    ("file", "bad", "problem"),
    [
        ("llt.asc", "95000009$Broken line$94000001$", "columns"),
        ("llt.asc", "95000009$Orphan$99999999$$$$$$$Y$$", "not in pt.asc"),
        ("llt.asc", "9500000X$Letters$94000001$$$$$$$Y$$", "MedDRA code"),
        ("llt.asc", "95000009$Bad currency$94000001$$$$$$$Q$$", "Y or N"),
        ("pt.asc", "94000009$$$91000001$$$$$$$$", "empty"),
    ],
)
def test_a_malformed_line_is_refused_with_its_file_and_line(
    tmp_path: Path, file: str, bad: str, problem: str
) -> None:
    folder = write_meddra(tmp_path / "broken")
    path = folder / file
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:2], bad, *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(DictionaryFileError) as refused:
        meddra_load(actor=CLI, folder=folder, version="9.9")
    assert f"{file}, line 3" in str(refused.value)
    assert problem in str(refused.value)
    assert not DictionaryVersion.objects.exists()
    assert not MeddraLlt.objects.exists()


def test_a_missing_file_loads_nothing(tmp_path: Path) -> None:
    folder = write_meddra(tmp_path / "partial")
    (folder / "mdhier.asc").unlink()
    with pytest.raises(DictionaryFileError, match=r"mdhier\.asc"):
        meddra_load(actor=CLI, folder=folder, version="1.0")
    assert not DictionaryVersion.objects.exists()


def test_versions_live_side_by_side_and_a_version_loads_once(
    coding: Coding, tmp_path: Path
) -> None:
    meddra_load(actor=CLI, folder=write_meddra(tmp_path / "v2", LLTS_V2), version="2.0")
    assert [d.version for d in selectors.dictionaries_list("meddra")] == ["1.0", "2.0"]
    with pytest.raises(ValidationError, match="already loaded"):
        meddra_load(actor=CLI, folder=write_meddra(tmp_path / "v2b"), version="2.0")


def test_whodrug_malformed_line(tmp_path: Path) -> None:
    folder = write_whodrug(tmp_path / "who")
    with (folder / "DD.txt").open("a", encoding="utf-8") as handle:
        handle.write("ABC\n")
    with pytest.raises(DictionaryFileError, match=r"DD\.txt, line 4"):
        whodrug_load(actor=CLI, folder=folder, version="T9")
    assert not DictionaryVersion.objects.exists()


def test_only_an_administrator_loads(coding: Coding, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        meddra_load(actor=coding.coder, folder=write_meddra(tmp_path / "x"), version="3.0")


# --- auto-coding --------------------------------------------------------------------------------


def test_an_exact_match_is_coded_at_the_save(coding: Coding) -> None:
    coding.safety.save_ae(
        None, ae_term="  febrile   NEUTROPENIA ", ae_start="2026-02-02", ae_grade=3
    )
    term = _term(coding)
    assert term.status == TermStatus.AUTO
    assert (term.llt_code, term.pt_name, term.soc_name) == (
        94000001,
        "Febrile neutropenia",
        "Blood disorders (test)",
    )
    assert AuditEvent.objects.filter(action="coding.term_autocoded").count() == 1


def test_a_synonym_codes_to_its_pt_and_a_non_current_llt_does_not(coding: Coding) -> None:
    coding.safety.save_ae(None, ae_term="Feeling sick", ae_start="2026-02-02", ae_grade=1)
    coding.safety.save_ae(None, repeat=2, ae_term="Throwing up", ae_start="2026-02-03", ae_grade=1)
    synonym, old = _term(coding, 1), _term(coding, 2)
    assert (synonym.status, synonym.llt_name, synonym.pt_name) == ("auto", "Feeling sick", "Nausea")
    assert old.status == TermStatus.UNCODED
    assert old.pt_code is None


def test_medications_are_coded_against_whodrug(coding: Coding) -> None:
    from carnet.capture.services import form_save

    s = coding.safety
    form_save(
        actor=s.nurse,
        subject=s.subject,
        event="baseline",
        form="conmed",
        base_version=None,
        repeat=2,
        values={"cm_name": "testamol forte", "cm_start": "2026-01-11"},
    )
    term = CodedTerm.objects.get(item="cm_name", verbatim="testamol forte")
    assert (term.status, term.drug_code, term.atc_code) == ("auto", "90000101A01", "N02BE")


def test_a_changed_verbatim_is_coded_again_and_an_unchanged_one_is_left(coding: Coding) -> None:
    outcome = coding.safety.save_ae(None, ae_term="Tummy ache", ae_start="2026-02-02", ae_grade=1)
    term = _term(coding)
    assert term.status == TermStatus.UNCODED
    term_code(actor=coding.coder, term=term, code="94000002", comment="Judged as nausea")
    outcome = coding.safety.save_ae(outcome.form_instance.version, ae_grade=2)
    assert _term(coding).status == TermStatus.CODED  # the words did not change
    coding.safety.save_ae(outcome.form_instance.version, ae_term="Vomiting")
    assert (_term(coding).status, _term(coding).pt_name) == ("auto", "Vomiting")


# --- the coder ----------------------------------------------------------------------------------


def test_the_coder_chooses_an_llt_and_it_is_audited(coding: Coding) -> None:
    coding.safety.save_ae(
        None, ae_term="Fever with low neutrophils", ae_start="2026-02-02", ae_grade=3
    )
    term = _term(coding)
    found = selectors.dictionary_search(coding.meddra, "neutrop")
    assert {r["name"] for r in found} == {"Febrile neutropenia", "Neutropenic fever"}
    term_code(actor=coding.coder, term=term, code="95000002", comment="fever + neutropenia")
    term.refresh_from_db()
    assert (term.status, term.pt_name, term.comment) == (
        "coded",
        "Febrile neutropenia",
        "fever + neutropenia",
    )
    event = AuditEvent.objects.get(action="coding.term_coded")
    assert event.new["pt_code"] == 94000001
    assert event.old["status"] == "uncoded"
    with pytest.raises(ValidationError, match="not current"):
        term_code(actor=coding.coder, term=term, code="95000004")
    with pytest.raises(ValidationError, match="not an LLT"):
        term_code(actor=coding.coder, term=term, code="12345678")


def test_only_a_coder_codes(coding: Coding) -> None:
    coding.safety.save_ae(None, ae_term="Odd thing", ae_start="2026-02-02", ae_grade=1)
    for someone in (coding.safety.nurse, coding.safety.monitor, coding.safety.vigilance):
        with pytest.raises(PermissionDenied):
            term_code(actor=someone, term=_term(coding), code="94000002")


def test_a_coder_query_goes_to_the_site(coding: Coding) -> None:
    coding.safety.save_ae(None, ae_term="Bad day", ae_start="2026-02-02", ae_grade=1)
    term = term_query(actor=coding.coder, term=_term(coding), text="Please describe the event.")
    query = Query.objects.get(pk=term.query_id)
    assert (query.item, query.form, query.row) == ("ae_term", "adverse_event", term.row)
    assert term.status == TermStatus.QUERIED
    assert uncoded_terms(coding.safety.world.study) == 1
    # The site answers by correcting the verbatim: the save codes it.
    coding.safety.save_ae(term.form_instance.version, ae_term="Nausea")
    assert _term(coding).status == TermStatus.AUTO
    assert uncoded_terms(coding.safety.world.study) == 0


# --- recoding -----------------------------------------------------------------------------------


def test_recoding_lists_its_impact_then_applies_with_a_reason(
    coding: Coding, tmp_path: Path
) -> None:
    s = coding.safety
    s.save_ae(None, ae_term="Feeling sick", ae_start="2026-02-02", ae_grade=1)
    s.save_ae(None, repeat=2, ae_term="Neutropenic fever", ae_start="2026-02-03", ae_grade=3)
    s.save_ae(None, repeat=3, ae_term="Vomiting", ae_start="2026-02-04", ae_grade=1)
    v2 = meddra_load(actor=CLI, folder=write_meddra(tmp_path / "v2", LLTS_V2), version="2.0")
    before = AuditEvent.objects.count()
    impact = recode_impact(actor=coding.coder, target=coding.ae_target, dictionary=v2)
    assert AuditEvent.objects.count() == before  # nothing changed yet
    reasons = {line.term.verbatim: line.reason for line in impact.lines}
    assert reasons == {
        "Feeling sick": "changed",
        "Neutropenic fever": "not current",
        "Vomiting": "same",
    }
    assert (impact.changed, impact.not_current) == (2, 1)
    with pytest.raises(ValidationError, match="reason"):
        recode_apply(actor=coding.coder, target=coding.ae_target, dictionary=v2, reason=" ")
    recode_apply(actor=coding.coder, target=coding.ae_target, dictionary=v2, reason="MedDRA 2.0")
    assert (_term(coding, 1).pt_name, _term(coding, 1).dictionary_id) == ("Vomiting", v2.pk)
    assert _term(coding, 2).status == TermStatus.UNCODED
    coding.ae_target.refresh_from_db()
    assert coding.ae_target.dictionary_id == v2.pk
    assert AuditEvent.objects.filter(action="coding.term_recoded", reason="MedDRA 2.0").count() == 3


# --- CTCAE, checklist, AE table data ------------------------------------------------------------


def test_ctcae_terms_map_to_the_llt_of_the_same_name(coding: Coding) -> None:
    found = selectors.ctcae_llts(coding.meddra, ["Febrile neutropenia", "Nausea", "Not a term"])
    assert found["Febrile neutropenia"]["llt_code"] == 94000001  # type: ignore[index]
    assert found["Nausea"]["soc_name"] == "Stomach disorders (test)"  # type: ignore[index]
    assert found["Not a term"] is None


def test_the_lock_checklist_counts_uncoded_terms(coding: Coding) -> None:
    study = coding.safety.world.study
    assert uncoded_terms(study) == 0
    coding.safety.save_ae(None, ae_term="Strange feeling", ae_start="2026-02-02", ae_grade=1)
    assert uncoded_terms(study) == 1
    assert selectors.meddra_coding_of(study) == {}
    term_code(actor=coding.coder, term=_term(coding), code="94000002")
    assert uncoded_terms(study) == 0
    assert selectors.meddra_coding_of(study) == {
        "strange feeling": ("Stomach disorders (test)", "Nausea")
    }


def test_blinding_is_unaffected(coding: Coding) -> None:
    """The coder is blinded and stays so: no term, search or queue carries an arm."""
    from carnet.accounts.permissions import is_unblinded

    study = coding.safety.world.study
    coding.safety.save_ae(None, ae_term="Nausea", ae_start="2026-02-02", ae_grade=1)
    assert not is_unblinded(coding.coder, study=study)
    rows = list(selectors.terms_for_actor(coding.coder, study).values())
    assert rows
    assert all("arm" not in key for key in rows[0])


def test_auto_coding_is_set_wise(coding: Coding) -> None:
    """The listener's set-wise form codes many writes in the same number of queries as two."""
    from datetime import date

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from carnet.capture.models import FormInstance
    from carnet.capture.seams import Change, ValueState, WriteContext, WriteKind
    from carnet.coding.services import autocode_many

    s = coding.safety
    for repeat in range(1, 8):
        s.save_ae(None, repeat=repeat, ae_start="2026-02-02", ae_grade=1)
    instances = list(FormInstance.objects.filter(form="adverse_event").order_by("repeat"))
    words = ["Nausea", "Feeling sick", "Odd", "Vomiting", "Strange", "nausea", "Weird"]

    def contexts(chosen: list[FormInstance]) -> list[WriteContext]:
        return [
            WriteContext(
                actor=s.nurse,
                subject=s.subject,
                form_instance=instance,
                kind=WriteKind.SAVE,
                today=date(2026, 2, 2),
                changes=[
                    Change("ae_term", 0, "ae_term", None, ValueState(words[instance.repeat - 1]))
                ],
            )
            for instance in chosen
        ]

    with CaptureQueriesContext(connection) as two:
        autocode_many(contexts(instances[:2]))
    with CaptureQueriesContext(connection) as five:
        autocode_many(contexts(instances[2:]))
    assert len(five.captured_queries) == len(two.captured_queries)
    statuses = dict(CodedTerm.objects.values_list("verbatim", "status"))
    assert statuses == {
        "Nausea": "auto",
        "Feeling sick": "auto",
        "Odd": "uncoded",
        "Vomiting": "auto",
        "Strange": "uncoded",
        "nausea": "auto",
        "Weird": "uncoded",
    }
