"""The biobank's tables. Each module holds one part of a sample's life; rows are written by the
biobank's services only, every change is an audit event, and nothing is deleted."""

from carnet.biobank.models.samples import Sample, SampleStatus

__all__ = ["Sample", "SampleStatus"]
from carnet.biobank.models.storage import (
    Box,
    Freezer,
    FreezerFailure,
    FreezerStatus,
    MovementKind,
    Rack,
    SamplePosition,
    StorageMovement,
)

__all__ += [
    "Box",
    "Freezer",
    "FreezerFailure",
    "FreezerStatus",
    "MovementKind",
    "Rack",
    "SamplePosition",
    "StorageMovement",
]
