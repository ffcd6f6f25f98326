"""The biobank's tables. Each module holds one part of a sample's life; rows are written by the
biobank's services only, every change is an audit event, and nothing is deleted."""

from carnet.biobank.models.collection import (
    Haemolysis,
    Held,
    ProcessingStep,
    SampleCollection,
    StepKind,
)
from carnet.biobank.models.exchange import (
    Destination,
    DestinationKind,
    DispositionAction,
    RequestStatus,
    SampleDisposition,
    SampleRequest,
    SampleUse,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    TransferAgreement,
)
from carnet.biobank.models.samples import Sample, SampleStatus
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

__all__ = [
    "Box",
    "Destination",
    "DestinationKind",
    "DispositionAction",
    "Freezer",
    "FreezerFailure",
    "FreezerStatus",
    "Haemolysis",
    "Held",
    "MovementKind",
    "ProcessingStep",
    "Rack",
    "RequestStatus",
    "Sample",
    "SampleCollection",
    "SampleDisposition",
    "SamplePosition",
    "SampleRequest",
    "SampleStatus",
    "SampleUse",
    "Shipment",
    "ShipmentItem",
    "ShipmentStatus",
    "StepKind",
    "StorageMovement",
    "TransferAgreement",
]
