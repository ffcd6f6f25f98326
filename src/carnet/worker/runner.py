"""The loop of `carnet worker`: claim a due task, run it, record how it ended; enqueue periodic
jobs when due; keep showing that it is alive; put back the tasks of workers that died."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any, Protocol

from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskContext
from django_tasks.signals import task_finished, task_started
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from carnet.core.clock import utc_now
from carnet.worker import services

logger = logging.getLogger("carnet.worker")

# How often a running worker looks for tasks left running by a worker that died elsewhere.
ABANDONED_CHECK = timedelta(seconds=60)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Output(Protocol):
    def write(self, text: str) -> Any: ...
    def flush(self) -> Any: ...


class StopNow(Exception):
    """A second stop request while a task runs: leave at once (the task goes back in the queue)."""


class Worker:
    """One worker process. `once`: run what is due, then return (tests, cron)."""

    def __init__(
        self,
        *,
        worker_id: str,
        out: Output,
        interval: float = 2.0,
        once: bool = False,
        heartbeat: bool = True,
        parent: int | None = None,
        backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    ) -> None:
        self.worker_id = worker_id
        self.out = out
        self.interval = interval
        self.once = once
        self.heartbeat = heartbeat
        # The process whose end stops the worker: a worker orphaned before it was built (its
        # server killed at start) has another parent already, and stops at its first look.
        self.parent = parent
        self.backend = backend
        self.stopping = threading.Event()
        self.in_task = False
        self.tasks_run = 0
        self._last_seen = 0.0
        self._last_abandoned_check = 0.0

    def say(self, line: str) -> None:
        self.out.write(f"{utc_now():%Y-%m-%d %H:%M:%S} {line}\n")
        self.out.flush()

    # Signals --------------------------------------------------------------------------------

    def _stop_requested(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping.is_set() and self.in_task:
            raise StopNow
        self.stopping.set()
        if self.in_task:
            self.say("Stopping after the current task (again to stop now).")

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, self._stop_requested)
        return previous

    # The loop -------------------------------------------------------------------------------

    def run(self, *, requeue_running: bool = False) -> int:
        """Run until stopped (or, with `once`, until nothing is due); return how many tasks ran."""
        services.worker_register(worker_id=self.worker_id)
        services.periodic_jobs_sync()
        self._requeue(everything=requeue_running)
        self.say(f"Worker {self.worker_id} started (pid {os.getpid()}).")
        previous = self._install_signals()
        beating = self._start_heartbeat() if self.heartbeat and not self.once else None
        try:
            self._loop()
        except StopNow:
            self.say("Stopped in the middle of a task: it goes back in the queue.")
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.stopping.set()
            if beating is not None:
                beating.join()
            services.worker_stopped(worker_id=self.worker_id)
            self.say(f"Worker {self.worker_id} stopped after {self.tasks_run} tasks.")
        return self.tasks_run

    def _loop(self) -> None:
        while not self.stopping.is_set() and not self._parent_gone():
            if not connection.in_atomic_block:  # in-process tests run it inside their transaction
                close_old_connections()  # a connection the database dropped while we slept
            self._keep_up()
            claimed = self._claim()
            if claimed is not None:
                self._execute(claimed)
                continue
            if self.once:
                return
            self._wait(self.interval)

    def _wait(self, seconds: float) -> None:
        """Sleep, waking early on a stop request or when the parent process has gone."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.stopping.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            self._parent_gone()

    def _parent_gone(self) -> bool:
        """Whether the process that started the worker has ended (then stop)."""
        if self.parent is None or os.getppid() == self.parent:
            return False
        self.say("The process that started the worker has ended.")
        self.stopping.set()
        return True

    def _keep_up(self) -> None:
        """Between tasks: say we are alive, enqueue due periodic jobs, requeue abandoned tasks."""
        moment = time.monotonic()
        if moment - self._last_seen >= services.HEARTBEAT_SECONDS:
            services.worker_seen(worker_id=self.worker_id)
            self._last_seen = moment
        for name in services.periodic_jobs_enqueue_due():
            self.say(f"Periodic job {name} enqueued.")
        if moment - self._last_abandoned_check >= ABANDONED_CHECK.total_seconds():
            self._requeue(everything=False)

    def _requeue(self, *, everything: bool) -> None:
        self._last_abandoned_check = time.monotonic()
        for result_id in services.tasks_requeue_abandoned(
            current_worker_id=self.worker_id, everything=everything
        ):
            self.say(f"Task {result_id} was left running by a worker that stopped: requeued.")

    def _claim(self) -> DBTaskResult | None:
        """Take the next due task and mark it running as ours, or return None."""
        ready = DBTaskResult.objects.ready().filter(backend_name=self.backend)
        try:
            with exclusive_transaction(ready.db):
                claimed = ready.get_locked()
                if claimed is not None:
                    claimed.claim(self.worker_id)
                return claimed
        except OperationalError as error:
            if is_locked_database_exception(error):
                return None  # another writer holds SQLite; try again at the next turn
            raise

    def _execute(self, claimed: DBTaskResult) -> None:
        """Run one claimed task and record its end: successful, failed, or back in the queue."""
        started = time.monotonic()
        self.in_task = True
        try:
            task = claimed.task
            result = claimed.task_result
            backend = type(task.get_backend())
            task_started.send(sender=backend, task_result=result)
            call: Callable[..., Any] = task.call
            if task.takes_context:
                value = call(TaskContext(task_result=result), *result.args, **result.kwargs)
            else:
                value = call(*result.args, **result.kwargs)
            claimed.set_successful(value)
            self.say(f"Task {claimed.task_name} {claimed.pk} done in {_took(started)}.")
        except (StopNow, KeyboardInterrupt, SystemExit):
            services.task_requeue(claimed.pk)
            raise
        except Exception as error:
            claimed.set_failed(error)
            self.say(
                f"Task {claimed.task_name} {claimed.pk} failed in {_took(started)}: "
                f"{type(error).__name__}: {error}"
            )
            logger.exception("Task %s failed", claimed.pk)
        else:
            task_finished.send(sender=backend, task_result=claimed.task_result)
        finally:
            self.in_task = False
            self.tasks_run += 1

    # The heartbeat ---------------------------------------------------------------------------

    def _start_heartbeat(self) -> threading.Thread:
        thread = threading.Thread(target=self._beat, name="carnet-worker-heartbeat", daemon=True)
        thread.start()
        return thread

    def _beat(self) -> None:
        """Record every few seconds that this worker lives, even while a long task runs."""
        try:
            while not self.stopping.wait(services.HEARTBEAT_SECONDS):
                try:
                    services.worker_seen(worker_id=self.worker_id)
                except OperationalError:
                    logger.warning("The worker could not record its heartbeat", exc_info=True)
        finally:
            connection.close()  # this thread's own connection


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.2f} s"
