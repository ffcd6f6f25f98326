"""The garbage collector during the long one-off commands (core/collector.py)."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.core import management

from carnet import cli
from carnet.core.collector import collector_calmed, collector_paused


def test_a_calmed_block_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    with collector_calmed():
        assert gc.get_freeze_count() > 0  # what was loaded is out of the passes
        assert gc.get_threshold()[0] == before[0] * 100
        assert gc.isenabled()  # the block's own garbage is still collected
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_paused_block_frees_its_cycles_once_and_freezes_what_lives_on() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
            garbage = weakref.ref(Cycle())  # freed only by a pass of the collector
            assert garbage() is not None  # none ran within the block
            kept = Cycle()
        assert garbage() is None  # freed at the end of the block
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what lives on is out of later passes
        assert kept.me is kept
    finally:
        gc.unfreeze()


def test_a_calmed_block_that_fails_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    try:
        with collector_calmed():
            raise RuntimeError("the load stopped")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.django_db
def test_migrate_called_in_process_never_pauses_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A test (or any caller passing its arguments) goes on after the command: only the
    # `carnet` process itself may pause the collector, and only on a database with nothing.
    paused: list[bool] = []
    ran: list[list[str]] = []
    monkeypatch.setattr(cli, "_collector_for_migrate", lambda: paused.append(True))
    monkeypatch.setattr(management, "execute_from_command_line", ran.append)
    assert cli.main(["carnet", "migrate", "--check"]) == 0
    assert ran == [["carnet", "migrate", "--check"]]
    assert paused == []
    assert gc.isenabled()
