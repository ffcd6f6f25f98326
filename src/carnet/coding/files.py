"""Reading the dictionaries' distribution files: MedDRA's ASCII files and WHODrug's B3 text
format. Every line is checked; the first malformed one is refused with its file and line, and
nothing is loaded (the caller writes only what every file parsed into).

MedDRA ("MedAscii" folder of the distribution): ``$``-delimited, one record a line, each line
ending with ``$``. The columns read (the others, such as the WHO-ART or ICD codes, are left):

- llt.asc: llt_code $ llt_name $ pt_code $ whoart $ harts $ costart $ icd9 $ icd9cm $ icd10 $
  llt_currency (Y/N) $ jart $
- pt.asc: pt_code $ pt_name $ null $ pt_soc_code $ whoart $ harts $ costart $ icd9 $ icd9cm $
  icd10 $ jart $
- hlt.asc, hlgt.asc: code $ name $ (seven code columns) $
- soc.asc: soc_code $ soc_name $ soc_abbrev $ (seven code columns) $
- hlt_pt.asc, hlgt_hlt.asc, soc_hlgt.asc: parent code $ child code $
- mdhier.asc: pt $ hlt $ hlgt $ soc $ pt_name $ hlt_name $ hlgt_name $ soc_name $ soc_abbrev $
  null $ pt_soc_code $ primary_soc_fg (Y/N) $

WHODrug B3 (the .txt files, fixed width; see docs/coding.md for what Carnet assumes):

- DD.txt: drug record number (1-6), sequence number 1 (7-8), sequence number 2 (9-11), check
  digit (12), designation (13), source year (14-15), source (16-19), company (20-24), number of
  ingredients (25-26), salt/ester code (27), year-quarter (28-30), drug name (31-).
- DDA.txt (optional): drug record number (1-6), sequence number 1 (7-8), sequence number 2
  (9-11), check digit (12), ATC code (13-19), year-quarter (20-22), official ATC flag (23).
- INA.txt (optional): ATC code (1-7), level (8), ATC text (9-).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex

MEDDRA_FILES = (
    "llt.asc",
    "pt.asc",
    "hlt.asc",
    "hlgt.asc",
    "soc.asc",
    "hlt_pt.asc",
    "hlgt_hlt.asc",
    "soc_hlgt.asc",
    "mdhier.asc",
)
# Columns before the line's closing "$".
MEDDRA_COLUMNS = {
    "llt.asc": 11,
    "pt.asc": 11,
    "hlt.asc": 9,
    "hlgt.asc": 9,
    "soc.asc": 10,
    "hlt_pt.asc": 2,
    "hlgt_hlt.asc": 2,
    "soc_hlgt.asc": 2,
    "mdhier.asc": 12,
}
NAME_LENGTH = 100


class DictionaryFileError(ValidationError):
    """A distribution file is missing or has a malformed line (its file and line named)."""


def term_key(text: str) -> str:
    """Return the matching key of a term: case-insensitive, spaces collapsed."""
    return " ".join(text.casefold().split())


def _refuse(name: str, number: int, problem: str) -> DictionaryFileError:
    return DictionaryFileError(
        _("%(file)s, line %(line)d: %(problem)s")
        % {"file": name, "line": number, "problem": problem}
    )


def _read(folder: Path, name: str, *, required: bool = True) -> tuple[str, str] | None:
    path = folder / name
    if not path.is_file():
        # Distributions differ in the case of their file names (DD.txt, dd.txt).
        matches = (
            [p for p in folder.iterdir() if p.name.lower() == name.lower()]
            if folder.is_dir()
            else []
        )
        if not matches:
            if not required:
                return None
            raise DictionaryFileError(_("%(file)s: the file is missing.") % {"file": name})
        path = matches[0]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Older distributions are Latin-1.
        text = raw.decode("latin-1")
    return text, sha256_hex(raw)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _code(name: str, number: int, value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise _refuse(
            name,
            number,
            _("%(what)s %(value)r is not a MedDRA code (8 digits).")
            % {"what": what, "value": value},
        )
    return int(value)


def _text(name: str, number: int, value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise _refuse(name, number, _("the %(what)s is empty.") % {"what": what})
    if len(value) > NAME_LENGTH:
        raise _refuse(
            name,
            number,
            _("the %(what)s is longer than %(n)d characters.") % {"what": what, "n": NAME_LENGTH},
        )
    return value


def _fields(name: str, number: int, line: str) -> list[str]:
    expected = MEDDRA_COLUMNS[name]
    parts = line.rstrip("\r\n").split("$")
    if len(parts) == expected + 1 and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) != expected:
        raise _refuse(
            name,
            number,
            _("%(found)d columns separated by $, %(expected)d expected.")
            % {"found": len(parts), "expected": expected},
        )
    return parts


@dataclass
class MeddraContent:
    """What the files of one MedDRA version hold, checked."""

    llts: list[tuple[int, str, int, bool]] = field(default_factory=list)
    pts: dict[int, dict[str, object]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def _names(text: str, file: str, *, abbrev: bool = False) -> dict[int, tuple[str, str]]:
    """Read soc.asc, hlgt.asc or hlt.asc: code -> (name, SOC abbreviation)."""
    found: dict[int, tuple[str, str]] = {}
    for number, line in _lines(text):
        parts = _fields(file, number, line)
        code = _code(file, number, parts[0], _("code"))
        if code in found:
            raise _refuse(file, number, _("code %(code)d appears twice.") % {"code": code})
        short = parts[2].strip() if abbrev else ""
        if abbrev and not short:
            raise _refuse(file, number, _("the SOC abbreviation is empty."))
        found[code] = (_text(file, number, parts[1], _("name")), short)
    return found


def _pts(text: str, socs: dict[int, tuple[str, str]]) -> dict[int, tuple[str, int]]:
    """Read pt.asc: code -> (name, primary SOC)."""
    pts: dict[int, tuple[str, int]] = {}
    for number, line in _lines(text):
        parts = _fields("pt.asc", number, line)
        code = _code("pt.asc", number, parts[0], _("PT code"))
        if code in pts:
            raise _refuse("pt.asc", number, _("code %(code)d appears twice.") % {"code": code})
        soc = _code("pt.asc", number, parts[3], _("primary SOC code"))
        if soc not in socs:
            raise _refuse("pt.asc", number, _("SOC %(code)d is not in soc.asc.") % {"code": soc})
        pts[code] = (_text("pt.asc", number, parts[1], _("PT name")), soc)
    return pts


def _links(text: str, file: str, parents: Collection[int], children: Collection[int]) -> None:
    """Check hlt_pt.asc, hlgt_hlt.asc or soc_hlgt.asc: both codes of each line exist."""
    for number, line in _lines(text):
        parts = _fields(file, number, line)
        parent = _code(file, number, parts[0], _("code"))
        child = _code(file, number, parts[1], _("code"))
        if parent not in parents or child not in children:
            raise _refuse(file, number, _("a code is not in the term files."))


def _primary_paths(
    text: str,
    pts: dict[int, tuple[str, int]],
    hlts: dict[int, tuple[str, str]],
    hlgts: dict[int, tuple[str, str]],
    socs: dict[int, tuple[str, str]],
) -> dict[int, dict[str, object]]:
    """Read mdhier.asc: each PT with its primary path (exactly one)."""
    paths: dict[int, dict[str, object]] = {}
    for number, line in _lines(text):
        parts = _fields("mdhier.asc", number, line)
        pt, hlt, hlgt, soc = (_code("mdhier.asc", number, v, _("code")) for v in parts[:4])
        if pt not in pts or hlt not in hlts or hlgt not in hlgts or soc not in socs:
            raise _refuse("mdhier.asc", number, _("a code is not in the term files."))
        flag = parts[11].strip().upper()
        if flag not in {"Y", "N"}:
            raise _refuse("mdhier.asc", number, _("primary_soc_fg must be Y or N."))
        if flag == "N":
            continue
        if pt in paths:
            raise _refuse(
                "mdhier.asc", number, _("PT %(code)d has two primary paths.") % {"code": pt}
            )
        paths[pt] = {
            "code": pt,
            "name": pts[pt][0],
            "hlt_code": hlt,
            "hlt_name": hlts[hlt][0],
            "hlgt_code": hlgt,
            "hlgt_name": hlgts[hlgt][0],
            "soc_code": soc,
            "soc_name": socs[soc][0],
            "soc_abbrev": socs[soc][1],
        }
    missing = sorted(set(pts) - set(paths))
    if missing:
        raise DictionaryFileError(
            _("mdhier.asc: PT %(code)d has no primary path.") % {"code": missing[0]}
        )
    return paths


def _llts(text: str, pts: Collection[int]) -> list[tuple[int, str, int, bool]]:
    """Read llt.asc: (code, name, PT, current) of each LLT."""
    llts: list[tuple[int, str, int, bool]] = []
    seen: set[int] = set()
    for number, line in _lines(text):
        parts = _fields("llt.asc", number, line)
        code = _code("llt.asc", number, parts[0], _("LLT code"))
        if code in seen:
            raise _refuse("llt.asc", number, _("code %(code)d appears twice.") % {"code": code})
        seen.add(code)
        pt = _code("llt.asc", number, parts[2], _("PT code"))
        if pt not in pts:
            raise _refuse("llt.asc", number, _("PT %(code)d is not in pt.asc.") % {"code": pt})
        currency = parts[9].strip().upper()
        if currency not in {"Y", "N"}:
            raise _refuse("llt.asc", number, _("llt_currency must be Y or N."))
        llts.append((code, _text("llt.asc", number, parts[1], _("LLT name")), pt, currency == "Y"))
    if not llts:
        raise DictionaryFileError(_("llt.asc: the file holds no term."))
    return llts


def meddra_read(folder: Path) -> MeddraContent:
    """Read and check a MedDRA ASCII distribution folder; raise on the first problem."""
    content = MeddraContent()
    texts: dict[str, str] = {}
    for name in MEDDRA_FILES:
        read = _read(folder, name)
        assert read is not None
        texts[name], content.files[name] = read
    socs = _names(texts["soc.asc"], "soc.asc", abbrev=True)
    hlgts = _names(texts["hlgt.asc"], "hlgt.asc")
    hlts = _names(texts["hlt.asc"], "hlt.asc")
    pts = _pts(texts["pt.asc"], socs)
    _links(texts["hlt_pt.asc"], "hlt_pt.asc", hlts, pts)
    _links(texts["hlgt_hlt.asc"], "hlgt_hlt.asc", hlgts, hlts)
    _links(texts["soc_hlgt.asc"], "soc_hlgt.asc", socs, hlgts)
    content.pts = _primary_paths(texts["mdhier.asc"], pts, hlts, hlgts, socs)
    content.llts = _llts(texts["llt.asc"], pts)
    return content


@dataclass
class WhoDrugContent:
    """What the files of one WHODrug B3 version hold, checked."""

    drugs: list[tuple[str, str, str, str]] = field(default_factory=list)  # code, name, atc, text
    files: dict[str, str] = field(default_factory=dict)


def whodrug_read(folder: Path) -> WhoDrugContent:
    """Read and check a WHODrug B3 text distribution folder; raise on the first problem."""
    content = WhoDrugContent()
    read = _read(folder, "DD.txt")
    assert read is not None
    dd, content.files["DD.txt"] = read
    atc_texts: dict[str, str] = {}
    ina = _read(folder, "INA.txt", required=False)
    if ina is not None:
        content.files["INA.txt"] = ina[1]
        for number, line in _lines(ina[0]):
            code = line[:7].strip()
            if not code or not code.isalnum() or len(line) < 9:
                raise _refuse(
                    "INA.txt",
                    number,
                    _("an ATC code (columns 1-7) and its text (9-) are expected."),
                )
            atc_texts[code] = line[8:].strip()[:200]
    atcs: dict[str, str] = {}
    dda = _read(folder, "DDA.txt", required=False)
    if dda is not None:
        content.files["DDA.txt"] = dda[1]
        for number, line in _lines(dda[0]):
            drug, atc = line[:11], line[12:19].strip()
            if len(line) < 19 or not drug[:6].isdigit() or not drug[6:8].isdigit() or not atc:
                raise _refuse(
                    "DDA.txt",
                    number,
                    _("a drug code (columns 1-11) and an ATC code (13-19) are expected."),
                )
            atcs.setdefault(drug, atc)
    seen: set[str] = set()
    for number, line in _lines(dd):
        drug = line[:11]
        name = line[30:].strip()
        if (
            len(line) < 31
            or not drug[:6].isdigit()
            or not drug[6:8].isdigit()
            or not drug[8:11].isalnum()
        ):
            raise _refuse(
                "DD.txt",
                number,
                _("a drug code (record number 1-6, sequence numbers 7-8 and 9-11) is expected."),
            )
        if not name:
            raise _refuse("DD.txt", number, _("the drug name (columns 31-) is empty."))
        if drug in seen:
            raise _refuse("DD.txt", number, _("drug code %(code)s appears twice.") % {"code": drug})
        seen.add(drug)
        atc = atcs.get(drug, "")
        content.drugs.append((drug, name[:1500], atc, atc_texts.get(atc, "")))
    if not content.drugs:
        raise DictionaryFileError(_("DD.txt: the file holds no drug."))
    return content
