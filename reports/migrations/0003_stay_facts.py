"""What the reports read of a release's earlier history, on the stays an
installation already has: one set-based UPDATE (``reports.stays.FACTS``)
before the indexes over them are built."""
from django.db import migrations, models


def backfill(apps, schema_editor):
    from reports.stays import write_facts

    write_facts(apps.get_model("reports", "Stay"))


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0019_planned_window'),
        ('reports', '0002_stays_from_the_log'),
    ]

    operations = [
        migrations.AddField(
            model_name='stay',
            name='first_deployment',
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.AddField(
            model_name='stay',
            name='paired_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='stay',
            index=models.Index(condition=models.Q(('paired_at__isnull', False)), fields=['entered'], include=('paired_at', 'entered_by'), name='stay_paired'),
        ),
        migrations.AddIndex(
            model_name='stay',
            index=models.Index(condition=models.Q(('first_deployment', True)), fields=['entered'], include=('release',), name='stay_first_deployment'),
        ),
    ]
