"""A database whose settings were stored under `operations` keeps them after the move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from carnet.runtime_settings.models import SystemSetting
from carnet.runtime_settings.services import system_setting_value

# Migrations run outside the test's transaction (SQLite cannot change its schema inside one).
pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("operations", "0001_initial"), ("runtime_settings", None)]


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    """Yield an executor; whatever the test did, the database ends fully migrated again."""
    yield MigrationExecutor(connection)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_setting_stored_under_operations_is_read_back_after_the_move(
    executor: MigrationExecutor,
) -> None:
    executor.migrate(BEFORE_THE_MOVE)
    old_apps = MigrationExecutor(connection).loader.project_state(BEFORE_THE_MOVE[:1]).apps
    old_model = old_apps.get_model("operations", "SystemSetting")
    assert old_model._meta.db_table == "operations_systemsetting"
    old_model.objects.create(key="upload_max_megabytes", value=7)
    with pytest.raises(LookupError):
        old_apps.get_model("runtime_settings", "SystemSetting")

    after = MigrationExecutor(connection)
    after.migrate(after.loader.graph.leaf_nodes())

    new_apps = MigrationExecutor(connection).loader.project_state().apps
    with pytest.raises(LookupError):
        new_apps.get_model("operations", "SystemSetting")
    assert new_apps.get_model("runtime_settings", "SystemSetting").objects.get().value == 7
    assert SystemSetting.objects.get(key="upload_max_megabytes").value == 7
    assert system_setting_value("upload_max_megabytes") == 7
