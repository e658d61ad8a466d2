# The reports' period (releases.metrics): which releases moved in it is read
# off this index instead of the whole log (make bench, 100k releases, 90 days:
# 250-350 ms to 40-60 ms for that step).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('releases', '0012_task_done_updated_at'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='transitionlog',
            index=models.Index(fields=['content_type', 'at'], name='transition_type_at'),
        ),
    ]
