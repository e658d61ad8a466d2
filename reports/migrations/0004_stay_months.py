from django.db import migrations, models


def keep_all(apps, schema_editor):
    """Sum the months already over, so the first long report after the
    upgrade reads sums rather than every stay (``reports.months``)."""
    from reports.months import keep_all

    keep_all(apps.get_model("reports", "Stay"), apps.get_model("reports", "StayMonth"))


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0003_stay_facts'),
    ]

    operations = [
        migrations.CreateModel(
            name='StayMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text="The month's first day.", unique=True)),
                ('counts', models.JSONField(default=list)),
            ],
        ),
        migrations.RunPython(keep_all, migrations.RunPython.noop),
    ]
