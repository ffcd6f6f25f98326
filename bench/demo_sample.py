"""A sample of the demo's patients, timed, with the counts that say its content is the same.

Run on a database holding the demo accounts and studies (`carnet demo --no-patients`; copy it
first to compare two versions of the code on the same start):

    CARNET_DATA_DIR=DIR .venv/bin/python bench/demo_sample.py [--phase3 30] [--phase2 6]
        [--profile FILE] [--collector-default]

Prints the counts (subjects, visits, form instances, values, check results, planned visits,
audit events, the sum of the dates of last news) and the audit events per action, then, on the
last line, the wall time, the process's CPU time and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import time
from collections import Counter

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase3", type=int, default=30)
    parser.add_argument("--phase2", type=int, default=6)
    parser.add_argument("--profile", default="", help="write a cProfile of the load here")
    parser.add_argument(
        "--collector-default",
        action="store_true",
        help="leave Python's garbage collector as it is (`carnet demo` calms it)",
    )
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.local")
    django.setup()
    from carnet.audit.models import AuditEvent
    from carnet.audit.services import SystemActor
    from carnet.capture.models import CheckResult, FormInstance, ItemValue
    from carnet.core.collector import collector_calmed
    from carnet.demo import demo_patients_load
    from carnet.subjects.models import PlannedVisit, Subject, Visit

    def load() -> None:
        calm = contextlib.nullcontext() if options.collector_default else collector_calmed()
        with calm:  # as `carnet demo` does
            demo_patients_load(
                actor=SystemActor.command_line("carnet demo"),
                phase3=options.phase3,
                phase2=options.phase2,
            )

    wall, cpu = time.perf_counter(), time.process_time()
    if options.profile:
        # CPU time, not wall time: on the shared machine, a wall-clock profile charges the
        # waits for a core to whatever function was running (2026-12-06: 194 s of a 795 s
        # profile went to Django's quote_name_unless_alias, 57 us a call instead of 2).
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(load)
        profiler.dump_stats(options.profile)
    else:
        load()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counts = {
        "subjects": Subject.objects.count(),
        "visits": Visit.objects.count(),
        "forms": FormInstance.objects.count(),
        "values": ItemValue.objects.count(),
        "checks": CheckResult.objects.count(),
        "planned": PlannedVisit.objects.count(),
        "audit": AuditEvent.objects.count(),
        "last_news": sum(
            day.toordinal() for day in Subject.objects.values_list("last_news_on", flat=True)
        ),
    }
    print("COUNTS", counts)
    print("ACTIONS", sorted(Counter(AuditEvent.objects.values_list("action", flat=True)).items()))
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, load {load_average}")


if __name__ == "__main__":
    main()
