"""The pharmacy's tables. Each module holds one part of the kit's life; every row is written by
the pharmacy's services only, and every stock movement is also an audit event."""

from carnet.pharmacy.models.dispensing import Destruction, Dispensing, ResupplyProposal, Return
from carnet.pharmacy.models.excursions import (
    Excursion,
    ExcursionDecision,
    ExcursionKit,
    ExcursionStatus,
)
from carnet.pharmacy.models.stock import (
    Batch,
    Kit,
    KitStatus,
    Shipment,
    ShipmentStatus,
    StockMovement,
)

__all__ = [
    "Batch",
    "Destruction",
    "Dispensing",
    "Excursion",
    "ExcursionDecision",
    "ExcursionKit",
    "ExcursionStatus",
    "Kit",
    "KitStatus",
    "ResupplyProposal",
    "Return",
    "Shipment",
    "ShipmentStatus",
    "StockMovement",
]
