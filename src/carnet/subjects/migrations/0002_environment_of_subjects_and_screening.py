"""Subjects, screening-log lines and identifier counters carry their environment (test or
production). Existing rows get the environment of the study's mode when they were created, read
from the study's audit chain (a study's mode changes and its inclusions are events of that chain,
so their order is exact); counters are then rebuilt per environment, so that test patients no
longer use up production numbers."""

from django.db import migrations, models

CREATED = {"subject": "subject.included", "screeningentry": "subject.screening_entry_added"}


def _mode_at(moves: list[tuple[int, str]], seq: int) -> str:
    mode = "design"
    for moved_at, new_mode in moves:
        if moved_at > seq:
            break
        mode = new_mode
    return mode


def mark_test_rows(apps, schema_editor):
    Study = apps.get_model("studies", "Study")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for study in Study.objects.all():
        chain = f"study:{study.identifier}"
        moves = [
            (seq, (new or {}).get("mode", ""))
            for seq, new in AuditEvent.objects.filter(
                chain=chain, action="study.mode_changed"
            ).order_by("seq").values_list("seq", "new")
        ]
        if not any(mode == "test" for _, mode in moves) and study.mode != "test":
            continue
        for model_name, action in CREATED.items():
            model = apps.get_model("subjects", model_name)
            created = dict(
                AuditEvent.objects.filter(
                    chain=chain, action=action, target_type=f"subjects.{model_name}"
                ).values_list("target_id", "seq")
            )
            test_ids = []
            for pk in model.objects.filter(study=study).values_list("pk", flat=True):
                seq = created.get(str(pk))
                # Without its event (rows written outside the services), the study's mode now.
                mode = _mode_at(moves, seq) if seq is not None else study.mode
                if mode == "test":
                    test_ids.append(pk)
            model.objects.filter(pk__in=test_ids).update(environment="test")
        _rebuild_counters(apps, study)


def _rebuild_counters(apps, study):
    Subject = apps.get_model("subjects", "Subject")
    IdentifierCounter = apps.get_model("subjects", "IdentifierCounter")
    for counter in IdentifierCounter.objects.filter(study=study):
        subjects = Subject.objects.filter(study=study)
        if counter.scope:
            subjects = subjects.filter(site__code=counter.scope)
        for environment in ("production", "test"):
            last = (
                subjects.filter(environment=environment)
                .aggregate(last=models.Max("sequence"))["last"]
                or 0
            )
            IdentifierCounter.objects.update_or_create(
                study=study, environment=environment, scope=counter.scope,
                defaults={"last": last},
            )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_alter_membership_role'),
        ('studies', '0002_published_versions_immutable'),
        ('subjects', '0001_initial'),
        ('audit', '0003_head_moves_by_batches'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='identifiercounter',
            name='identifier_counter_unique',
        ),
        migrations.RemoveConstraint(
            model_name='screeningentry',
            name='screening_entry_number_unique',
        ),
        migrations.RemoveConstraint(
            model_name='subject',
            name='subject_identifier_unique',
        ),
        migrations.RemoveConstraint(
            model_name='subject',
            name='subject_screening_number_unique',
        ),
        migrations.AddField(
            model_name='identifiercounter',
            name='environment',
            field=models.CharField(choices=[('production', 'production'), ('test', 'test')], default='production', max_length=10),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='screeningentry',
            name='environment',
            field=models.CharField(choices=[('production', 'production'), ('test', 'test')], default='production', max_length=10),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='subject',
            name='environment',
            field=models.CharField(choices=[('production', 'production'), ('test', 'test')], default='production', max_length=10),
            preserve_default=False,
        ),
        # Before the new constraints: a counter per environment is created here.
        migrations.RunPython(mark_test_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='identifiercounter',
            constraint=models.UniqueConstraint(fields=('study', 'environment', 'scope'), name='identifier_counter_unique'),
        ),
        migrations.AddConstraint(
            model_name='screeningentry',
            constraint=models.UniqueConstraint(condition=models.Q(('screening_number', ''), _negated=True), fields=('site', 'environment', 'screening_number'), name='screening_entry_number_unique'),
        ),
        migrations.AddConstraint(
            model_name='subject',
            constraint=models.UniqueConstraint(fields=('study', 'environment', 'identifier'), name='subject_identifier_unique'),
        ),
        migrations.AddConstraint(
            model_name='subject',
            constraint=models.UniqueConstraint(condition=models.Q(('screening_number', ''), _negated=True), fields=('site', 'environment', 'screening_number'), name='subject_screening_number_unique'),
        ),
    ]
