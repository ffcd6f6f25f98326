"""On PostgreSQL, refuse TRUNCATE of the audit tables too.

TRUNCATE fires no row trigger: the UPDATE/DELETE triggers of 0002 let it empty both tables,
after which the verifier found nothing to check. A statement-level trigger refuses it, for the
events and the chain heads alike. (The table owner can still disable triggers: production runs
Carnet as a role that does not own these tables, see docs/audit.md.)
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION carnet_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail cannot be emptied: TRUNCATE refused on %', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION carnet_audit_no_truncate();

CREATE TRIGGER audit_head_no_truncate
    BEFORE TRUNCATE ON audit_chainhead
    FOR EACH STATEMENT EXECUTE FUNCTION carnet_audit_no_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS carnet_audit_no_truncate();
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_head_moves_by_batches")]
    operations = [migrations.RunPython(forward, backward)]
