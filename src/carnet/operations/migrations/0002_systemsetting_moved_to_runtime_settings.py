"""SystemSetting now belongs to `runtime_settings`: drop it from this app's state, keep the table."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("operations", "0001_initial"),
        # The new app takes the model into its state first, so the table is never unowned.
        ("runtime_settings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SystemSetting")],
            database_operations=[],
        ),
    ]
