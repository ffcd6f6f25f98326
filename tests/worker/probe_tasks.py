"""Tasks the worker tests enqueue: they leave a trace the test reads back.

A module of its own (not a test module) so that a worker in another process imports it by name,
as it imports Carnet's tasks.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.db import transaction
from django_tasks import task

from carnet.accounts.models import User
from carnet.messaging.models import Message
from carnet.messaging.services import message_send


@task()
def probe_write(path: str, text: str) -> str:
    """Append a line to a file and return it."""
    with Path(path).open("a", encoding="utf-8") as trace:
        trace.write(text + "\n")
    return text


@task()
def probe_fail(reason: str) -> None:
    raise RuntimeError(reason)


@task()
def probe_note_once(username: str, key: str, hang_flag: str) -> int:
    """Write one message to `username` under `key` in a transaction; the first time (while
    `hang_flag` exists) hang inside that transaction until the process is killed.

    Idempotent as tasks must be: the key makes a second run that finds the note write nothing
    more. Return how many notes carry the key.
    """
    flag = Path(hang_flag)
    with transaction.atomic():
        if not Message.objects.filter(key=key).exists():
            message_send(
                recipient=User.objects.get(username=username),
                subject="Probe",
                body="Written once.",
                key=key,
            )
        if flag.exists():
            flag.unlink()
            flag.with_suffix(".hanging").touch()
            time.sleep(120)  # the test kills the worker here, before the transaction commits
    return Message.objects.filter(key=key).count()
