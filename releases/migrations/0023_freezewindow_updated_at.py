"""A freeze window keeps when it last changed: the ETag the API answers with
moves with it, so a stale If-Match on a change or a delete is refused."""
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0022_communication_audience'),
    ]

    operations = [
        migrations.AddField(
            model_name='freezewindow',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='historicalfreezewindow',
            name='updated_at',
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, editable=False),
            preserve_default=False,
        ),
    ]
