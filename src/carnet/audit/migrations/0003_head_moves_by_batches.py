"""A chain head may move forward by several events at once (a form's values are recorded
together), but only to an event of the chain that continues from the old head."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION carnet_audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit chain heads cannot be deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.seq <= OLD.seq
        OR NOT EXISTS (
            SELECT 1 FROM audit_auditevent
            WHERE chain = NEW.chain AND seq = NEW.seq AND hash = NEW.hash
        )
        OR NOT EXISTS (
            SELECT 1 FROM audit_auditevent
            WHERE chain = NEW.chain AND seq = OLD.seq + 1 AND prev_hash = OLD.hash
        )
    THEN
        RAISE EXCEPTION 'an audit chain head only moves forward to events just appended'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION carnet_audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit chain heads cannot be deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_auditevent
        WHERE chain = NEW.chain AND seq = NEW.seq AND hash = NEW.hash AND prev_hash = OLD.hash
    ) THEN
        RAISE EXCEPTION 'an audit chain head only moves forward to the event just appended'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]
    operations = [migrations.RunPython(forward, backward)]
