"""The demo installation: accounts, the two demo studies and their synthetic patients.

Data, not operations: `carnet demo` (carnet/operations/management/commands/demo.py) calls it.
Everything is written through the services, as a site would write it, so the audit trail, the
edit checks and the schedules are real. One module per part: accounts, studies, the patients of
each study (maintain_crc, acc_209), their screening logs, and what they share (synthetic).
"""

from carnet.demo.accounts import (
    DEMO_ACCOUNTS,
    DEMO_CENTRES,
    DEMO_ROLES_FROM,
    DEMO_SITE_STAFF,
    DemoAccount,
    demo_load,
    demo_roles,
    demo_site_staff_load,
)
from carnet.demo.patients import demo_patients_load
from carnet.demo.studies import DemoStudy, demo_studies_load, examples_dir
from carnet.demo.synthetic import StudyPatients

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_CENTRES",
    "DEMO_ROLES_FROM",
    "DEMO_SITE_STAFF",
    "DemoAccount",
    "DemoStudy",
    "StudyPatients",
    "demo_load",
    "demo_patients_load",
    "demo_roles",
    "demo_site_staff_load",
    "demo_studies_load",
    "examples_dir",
]
