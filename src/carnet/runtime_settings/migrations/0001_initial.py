"""SystemSetting moves here from `operations`: the table stays (state only, no SQL).

On an existing database the table `operations_systemsetting` and its rows are already there; on a
new one `operations.0001_initial` creates it. Either way this app only takes the model into its
state, and `operations.0002` drops it from that app's state without touching the table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The table is created by operations' first migration, kept for existing databases.
        ("operations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SystemSetting",
                    fields=[
                        ("key", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        ("value", models.JSONField()),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={"db_table": "operations_systemsetting"},
                ),
            ],
            database_operations=[],
        ),
    ]
