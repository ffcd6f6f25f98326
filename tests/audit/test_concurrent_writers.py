"""Writers appending to one chain at the same time never fork it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor, audit_record, study_chain
from carnet.audit.verification import audit_verify

WRITERS = 8
EVENTS_EACH = 25


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_leave_one_unbroken_chain() -> None:
    chain = study_chain("CONCURRENT")
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_EACH):
                # Each event in its own transaction, as each save of a form would be.
                with transaction.atomic():
                    audit_record(
                        actor=SystemActor(label=f"writer {writer}"),
                        action="item.changed",
                        new={"writer": writer, "n": n},
                        chain=chain,
                    )
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    sequence = list(
        AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True)
    )
    assert sequence == list(range(1, WRITERS * EVENTS_EACH + 1))
    report = audit_verify(chain=chain)
    assert report.intact, report.lines()
    # Every writer's events are all there, none lost to a fork.
    written = {
        (e["writer"], e["n"])
        for e in AuditEvent.objects.filter(chain=chain).values_list("new", flat=True)
    }
    assert len(written) == WRITERS * EVENTS_EACH
