"""On PostgreSQL, a published study version cannot change or disappear, whatever the code does."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION carnet_study_version_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'study versions are never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'published' AND (
        NEW.status <> OLD.status OR NEW.source_text <> OLD.source_text
        OR NEW.source_sha256 <> OLD.source_sha256 OR NEW.definition <> OLD.definition
        OR NEW.number <> OLD.number OR NEW.study_id <> OLD.study_id
    ) THEN
        RAISE EXCEPTION 'a published study version is immutable'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER study_version_immutable
    BEFORE UPDATE OR DELETE ON studies_studyversion
    FOR EACH ROW EXECUTE FUNCTION carnet_study_version_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS study_version_immutable ON studies_studyversion;
DROP FUNCTION IF EXISTS carnet_study_version_immutable();
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
