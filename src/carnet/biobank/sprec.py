"""The Standard PREanalytical Code (SPREC) of a sample, computed from what was recorded of its
collection and processing. Pure functions, no Django.

ISBER Biospecimen Science Working Group, "Standard PREanalytical Code Version 3.0",
Biopreservation and Biobanking 16(1), 2018 (Betsou et al.), which keeps the seven elements of
SPREC 2.0 (Lehmann et al., Biopreserv. Biobank. 10(4):366-374, 2012, tables 1 and 2):

fluid:  type - primary container - pre-centrifugation - centrifugation - second centrifugation
        - post-centrifugation - long-term storage          e.g. PL2-PED-B-C-C-B-A
tissue: type - type of collection - warm ischaemia - cold ischaemia - fixation type
        - fixation time - long-term storage                e.g. TIS-SRG-B-D-NBF-E-E

Where what was recorded fits no class of the code (a 20-minute spin, a storage at -40 °C), the
element is Z ("other"); where it was not recorded, X ("unknown"), as the code prescribes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

UNKNOWN = "X"
OTHER = "Z"
NOT_APPLICABLE = "N"

# Type of sample (fluids). Plasma spun twice is PL2, once PL1.
FLUID_TYPES = {
    "serum": "SER",
    "whole_blood": "BLD",
    "buffy_coat": "BFF",
    "urine": "URN",
    "cerebrospinal_fluid": "CSF",
    "saliva": "SAL",
}
# Type of primary container.
CONTAINERS = {
    "acd": "ACD",
    "serum_tube": "CAT",
    "cpt": "CPT",
    "edta_gel": "EDG",
    "lithium_heparin": "HEP",
    "lithium_heparin_gel": "LHG",
    "paxgene_rna": "PAX",
    "edta": "PED",
    "polypropylene": "PPS",
    "paxgene_dna": "PXD",
    "sodium_citrate": "SCI",
    "sodium_heparin": "SHP",
    "sst": "SST",
}
# Tissue: type of collection, fixation type.
COLLECTION_METHODS = {
    "surgery": "SRG",
    "biopsy": "BPS",
    "fine_needle_aspirate": "FNA",
    "punch": "PUN",
    "autopsy": "AUT",
}
FIXATIVES = {
    "neutral_buffered_formalin": "NBF",
    "formalin": "FOR",
    "alcohol": "ALC",
    "snap_frozen": "SNP",
    "oct": "OCT",
    "rnalater": "RNL",
}

# Delays: upper bounds in hours (exclusive) and the codes at room temperature / 2-10 °C.
PRE_CENTRIFUGATION = (
    (2, "A", "B"),
    (4, "C", "D"),
    (8, "E", "F"),
    (12, "G", "H"),
    (24, "I", "J"),
    (48, "K", "L"),
    (float("inf"), "M", "N"),
)
POST_CENTRIFUGATION = (
    (1, "A", "B"),
    (2, "C", "D"),
    (8, "E", "F"),
    (24, "G", "H"),
    (float("inf"), "I", "J"),
)
# Warm and cold ischaemia: upper bounds in minutes (exclusive).
ISCHAEMIA = ((2, "A"), (10, "B"), (20, "C"), (30, "D"), (60, "E"), (float("inf"), "F"))
# Fixation time: upper bounds in hours (exclusive).
FIXATION_TIME = (
    (0.25, "A"),
    (1, "B"),
    (4, "C"),
    (8, "D"),
    (24, "E"),
    (48, "F"),
    (72, "G"),
)
# Centrifugation: (room temperature, braking) and the force class give the letter.
CENTRIFUGATION = {
    # force < 3000 g, 3000-6000 g, > 6000 g
    (True, True): ("A", "E", "I"),
    (True, False): ("B", "F", "J"),
    (False, True): ("C", "G", "K"),
    (False, False): ("D", "H", "L"),
}


@dataclass(frozen=True)
class Spin:
    """A centrifugation as recorded: when, how fast, how cold, braking or not."""

    started_at: datetime
    ended_at: datetime | None
    force_g: int | None
    temperature: float | None
    braking: bool = True


@dataclass(frozen=True)
class FluidRecord:
    sample_type: str
    container: str
    collected_at: datetime | None
    held_cold: bool = False  # kept at 2-10 °C from collection to centrifugation
    first: Spin | None = None
    second: Spin | None = None
    post_held_cold: bool = False  # kept at 2-10 °C from centrifugation to freezing
    frozen_at: datetime | None = None
    storage_temperature: float | None = None


@dataclass(frozen=True)
class TissueRecord:
    collection_method: str
    collected_at: datetime | None  # excision
    warm_ischaemia_minutes: float | None
    fixative: str
    fixation_started_at: datetime | None
    fixation_ended_at: datetime | None
    storage_temperature: float | None


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


def _delay(hours: float | None, table: tuple[tuple[float, str, str], ...], cold: bool) -> str:
    if hours is None:
        return UNKNOWN
    if hours < 0:
        return OTHER
    for bound, room, chilled in table:
        if hours < bound:
            return chilled if cold else room
    return OTHER


def _banded(value: float | None, table: tuple[tuple[float, str], ...]) -> str:
    if value is None:
        return UNKNOWN
    if value < 0:
        return OTHER
    return next((code for bound, code in table if value < bound), OTHER)


def centrifugation_code(spin: Spin | None) -> str:
    """Return the centrifugation element: N without one, X when it is incomplete, Z when its
    duration (10 to 15 minutes in the code) or temperature (room or 2-10 °C) fits no class."""
    if spin is None:
        return NOT_APPLICABLE
    if spin.ended_at is None or spin.force_g is None or spin.temperature is None:
        return UNKNOWN
    minutes = (spin.ended_at - spin.started_at).total_seconds() / 60
    if not 10 <= minutes <= 15:
        return OTHER
    if 2 <= spin.temperature <= 10:
        room = False
    elif 18 <= spin.temperature <= 25:
        room = True
    else:
        return OTHER
    band = 0 if spin.force_g < 3000 else 1 if spin.force_g <= 6000 else 2
    return CENTRIFUGATION[(room, spin.braking)][band]


def storage_code(temperature: float | None, *, paraffin: bool = False) -> str:
    """Return the long-term storage element: a polypropylene cryotube at -85 to -60 °C (A),
    -35 to -18 °C (B), in liquid nitrogen (C) or its vapour (D); a paraffin block at room
    temperature (E) or 2-10 °C (F)."""
    if temperature is None:
        return UNKNOWN
    if paraffin:
        if 15 <= temperature <= 30:
            return "E"
        return "F" if 2 <= temperature <= 10 else OTHER
    if -85 <= temperature <= -60:
        return "A"
    if -35 <= temperature <= -18:
        return "B"
    if temperature <= -190:
        return "C"
    if -190 < temperature <= -150:
        return "D"
    return OTHER


def fluid_sprec(record: FluidRecord) -> str:
    """Return the seven-element SPREC of a fluid sample."""
    if record.sample_type == "plasma":
        kind = "PL2" if record.second is not None else "PL1"
    else:
        kind = FLUID_TYPES.get(record.sample_type, "ZZZ")
    container = CONTAINERS.get(record.container, "XXX" if not record.container else "ZZZ")
    if record.first is None:
        pre = _delay(_hours(record.collected_at, record.frozen_at), PRE_CENTRIFUGATION, False)
        pre = pre if record.frozen_at else UNKNOWN
        post = NOT_APPLICABLE
    else:
        pre = _delay(
            _hours(record.collected_at, record.first.started_at),
            PRE_CENTRIFUGATION,
            record.held_cold,
        )
        last = record.second or record.first
        post = _delay(
            _hours(last.ended_at, record.frozen_at), POST_CENTRIFUGATION, record.post_held_cold
        )
    second = centrifugation_code(record.second) if record.first else NOT_APPLICABLE
    return "-".join(
        [
            kind,
            container,
            pre,
            centrifugation_code(record.first),
            second,
            post,
            storage_code(record.storage_temperature),
        ]
    )


def tissue_sprec(record: TissueRecord) -> str:
    """Return the seven-element SPREC of a solid tissue, fixed (FFPE) or snap frozen."""
    method = COLLECTION_METHODS.get(record.collection_method, "XXX")
    if record.collection_method == "biopsy":
        # A biopsy has no vascular clamping before excision: warm ischaemia does not apply.
        warm = NOT_APPLICABLE
    else:
        warm = _banded(record.warm_ischaemia_minutes, ISCHAEMIA)
    fixation_hours = _hours(record.collected_at, record.fixation_started_at)
    cold = _banded(None if fixation_hours is None else fixation_hours * 60, ISCHAEMIA)
    fixative = FIXATIVES.get(record.fixative, "XXX" if not record.fixative else "ZZZ")
    frozen = record.fixative in {"snap_frozen", "oct"}
    if frozen:
        fixation_time = NOT_APPLICABLE
    else:
        fixation_time = _banded(
            _hours(record.fixation_started_at, record.fixation_ended_at), FIXATION_TIME
        )
    storage = storage_code(record.storage_temperature, paraffin=not frozen)
    return "-".join(["TIS", method, warm, cold, fixative, fixation_time, storage])
