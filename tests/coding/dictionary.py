"""A small SYNTHETIC dictionary in MedDRA's ASCII file format (and one in WHODrug's B3 text
format), written for the tests: invented codes and hierarchy, no MedDRA or WHODrug content."""

from __future__ import annotations

from pathlib import Path

SOCS = {
    91000001: ("Blood disorders (test)", "TBlood"),
    91000002: ("Stomach disorders (test)", "TStom"),
}
HLGTS = {
    92000001: ("Blood cell disorders (test)", 91000001),
    92000002: ("Stomach signs (test)", 91000002),
}
HLTS = {
    93000001: ("Neutrophil conditions (test)", 92000001),
    93000002: ("Sickness signs (test)", 92000002),
}
PTS = {
    94000001: ("Febrile neutropenia", 93000001),
    94000002: ("Nausea", 93000002),
    94000003: ("Vomiting", 93000002),
}
# code: (name, pt, current)
LLTS_V1 = {
    94000001: ("Febrile neutropenia", 94000001, True),
    95000002: ("Neutropenic fever", 94000001, True),
    94000002: ("Nausea", 94000002, True),
    95000003: ("Feeling sick", 94000002, True),
    94000003: ("Vomiting", 94000003, True),
    95000004: ("Throwing up", 94000003, False),
}
# Version 2: "Feeling sick" moves to the PT Vomiting; "Neutropenic fever" is no longer current.
LLTS_V2 = {
    **LLTS_V1,
    95000003: ("Feeling sick", 94000003, True),
    95000002: ("Neutropenic fever", 94000001, False),
}


def write_meddra(folder: Path, llts: dict[int, tuple[str, int, bool]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    llts = LLTS_V1 if llts is None else llts

    def write(name: str, lines: list[str]) -> None:
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    write("soc.asc", [f"{c}${n}${a}$$$$$$$$" for c, (n, a) in SOCS.items()])
    write("hlgt.asc", [f"{c}${n}$$$$$$$$" for c, (n, _s) in HLGTS.items()])
    write("hlt.asc", [f"{c}${n}$$$$$$$$" for c, (n, _g) in HLTS.items()])
    soc_of_pt = {pt: HLGTS[HLTS[hlt][1]][1] for pt, (_n, hlt) in PTS.items()}
    write("pt.asc", [f"{c}${n}$${soc_of_pt[c]}$$$$$$$$" for c, (n, _h) in PTS.items()])
    write(
        "llt.asc",
        [f"{c}${n}${pt}$$$$$$${'Y' if cur else 'N'}$$" for c, (n, pt, cur) in llts.items()],
    )
    write("hlt_pt.asc", [f"{hlt}${pt}$" for pt, (_n, hlt) in PTS.items()])
    write("hlgt_hlt.asc", [f"{hlgt}${hlt}$" for hlt, (_n, hlgt) in HLTS.items()])
    write("soc_hlgt.asc", [f"{soc}${hlgt}$" for hlgt, (_n, soc) in HLGTS.items()])
    lines = []
    for pt, (pt_name, hlt) in PTS.items():
        hlgt = HLTS[hlt][1]
        soc = HLGTS[hlgt][1]
        lines.append(
            f"{pt}${hlt}${hlgt}${soc}${pt_name}${HLTS[hlt][0]}${HLGTS[hlgt][0]}${SOCS[soc][0]}$"
            f"{SOCS[soc][1]}$${soc}$Y$"
        )
    write("mdhier.asc", lines)
    return folder


DRUGS = {
    "90000101001": ("TESTAMOL", "N02BE"),
    "90000101A01": ("TESTAMOL FORTE", "N02BE"),
    "90000202001": ("EXAMPLOFEN", "M01AE"),
}


def write_whodrug(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dd = []
    for code, (name, _atc) in DRUGS.items():
        # record number, seq1, seq2, check digit, designation, source year, source, company,
        # ingredients, salt code, year-quarter, drug name (columns 31-).
        dd.append(f"{code}0T99TST1TCOMP01N261{name}")
    (folder / "DD.txt").write_text("\n".join(dd) + "\n", encoding="utf-8")
    dda = [f"{code}0{atc:<7}261Y" for code, (_n, atc) in DRUGS.items()]
    (folder / "DDA.txt").write_text("\n".join(dda) + "\n", encoding="utf-8")
    ina = ["N02BE  4ANILIDES (TEST)", "M01AE  4PROPIONIC ACID DERIVATIVES (TEST)"]
    (folder / "INA.txt").write_text("\n".join(ina) + "\n", encoding="utf-8")
    return folder
