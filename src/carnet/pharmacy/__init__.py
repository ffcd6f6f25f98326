"""Pharmacy: the investigational medicinal product from the manufacturer's batches to the
hospital pharmacy and the patient (kits and hospital stock, shipments, dispensing,
accountability, temperature excursions, resupply)."""
