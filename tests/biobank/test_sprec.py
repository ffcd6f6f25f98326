"""SPREC codes computed from recorded times and conditions (no database).

Examples: the SPREC papers code plasma spun once at room temperature within 2 hours, at
< 3000 g with braking, frozen within an hour in a polypropylene tube at -80 °C, as
PL1-<container>-A-A-N-A-A (Betsou et al. 2010, Lehmann et al. 2012 table 1: pre-centrifugation
A = RT < 2 h, centrifugation A = RT 10 min < 3000 g with braking, N = no second centrifugation,
post-centrifugation A = RT < 1 h, storage A = PP tube -85 to -60 °C)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carnet.biobank.sprec import (
    FluidRecord,
    Spin,
    TissueRecord,
    centrifugation_code,
    fluid_sprec,
    storage_code,
    tissue_sprec,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def spin(start: float, *, g: int = 2000, temperature: float = 20, braking: bool = True) -> Spin:
    return Spin(at(start), at(start + 10), g, temperature, braking)


def test_plasma_spun_once_at_room_temperature_is_the_papers_standard_code() -> None:
    record = FluidRecord(
        "plasma", "edta", T0, first=spin(30), frozen_at=at(60), storage_temperature=-80
    )
    assert fluid_sprec(record) == "PL1-PED-A-A-N-A-A"


def test_double_spun_cold_plasma_held_on_ice() -> None:
    record = FluidRecord(
        "plasma",
        "edta",
        T0,
        held_cold=True,
        first=spin(150, g=1600, temperature=4),
        second=spin(165, g=16000, temperature=4),
        post_held_cold=True,
        frozen_at=at(240),
        storage_temperature=-80,
    )
    # 2.5 h cold before the spin: D; 4 °C < 3000 g braking: C; 16000 g at 4 °C: K;
    # 65 minutes cold after the second spin: D; -80 °C: A.
    assert fluid_sprec(record) == "PL2-PED-D-C-K-D-A"


def test_serum_in_a_gel_tube_left_overnight_at_room_temperature() -> None:
    record = FluidRecord(
        "serum",
        "sst",
        T0,
        first=spin(14 * 60, g=4000),
        frozen_at=at(14 * 60 + 100),
        storage_temperature=-20,
    )
    # 14 h at RT: I; RT 4000 g: E; 90 minutes at RT after the spin: C; -20 °C: B.
    assert fluid_sprec(record) == "SER-SST-I-E-N-C-B"


def test_whole_blood_frozen_without_centrifugation() -> None:
    record = FluidRecord("whole_blood", "edta", T0, frozen_at=at(90), storage_temperature=-196)
    assert fluid_sprec(record) == "BLD-PED-A-N-N-N-C"


def test_what_is_not_recorded_is_unknown_and_what_fits_no_class_is_other() -> None:
    assert fluid_sprec(FluidRecord("plasma", "", None)) == "PL1-XXX-X-N-N-N-X"
    assert centrifugation_code(Spin(at(0), at(20), 2000, 20, True)) == "Z"  # a 20-minute spin
    assert centrifugation_code(Spin(at(0), at(10), 2000, 30, True)) == "Z"  # 30 °C
    assert centrifugation_code(Spin(at(0), None, 2000, 20, True)) == "X"
    assert storage_code(-40) == "Z"
    assert storage_code(-160) == "D"


def test_braking_and_force_classes() -> None:
    assert centrifugation_code(spin(0, g=2999, braking=False)) == "B"
    assert centrifugation_code(spin(0, g=3000, temperature=4, braking=False)) == "H"
    assert centrifugation_code(spin(0, g=6001)) == "I"


def test_ffpe_tumour_from_surgery() -> None:
    record = TissueRecord(
        collection_method="surgery",
        collected_at=T0,
        warm_ischaemia_minutes=15,
        fixative="neutral_buffered_formalin",
        fixation_started_at=at(25),
        fixation_ended_at=at(25 + 20 * 60),
        storage_temperature=20,
    )
    # Warm 15 min: C; cold 25 min: D; neutral buffered formalin 20 h: E; paraffin block at RT: E.
    assert tissue_sprec(record) == "TIS-SRG-C-D-NBF-E-E"


def test_snap_frozen_biopsy() -> None:
    record = TissueRecord(
        collection_method="biopsy",
        collected_at=T0,
        warm_ischaemia_minutes=None,
        fixative="snap_frozen",
        fixation_started_at=at(5),
        fixation_ended_at=None,
        storage_temperature=-80,
    )
    # A biopsy has no warm ischaemia (N); cold 5 min: B; snap frozen: no fixation time (N).
    assert tissue_sprec(record) == "TIS-BPS-N-B-SNP-N-A"
