"""Who raised an RFC, for segregation of duties (an RFC raised in someone's
name in the admin is the raiser's proposal too). RFCs raised before were
raised by their requesters as far as anyone can tell: that is the backfill.
The history keeps its rows as they were written (it is append-only)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def raised_by_requester(apps, schema_editor):
    ChangeRequest = apps.get_model("changes", "ChangeRequest")
    ChangeRequest.objects.filter(raised_by__isnull=True).update(raised_by=F("requester"))


class Migration(migrations.Migration):

    dependencies = [
        ('changes', '0002_problems'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='changerequest',
            name='raised_by',
            field=models.ForeignKey(blank=True, help_text="Who raised the RFC: the requester, or whoever raised it in the requester's name.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalchangerequest',
            name='raised_by',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text="Who raised the RFC: the requester, or whoever raised it in the requester's name.", null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(raised_by_requester, migrations.RunPython.noop),
    ]
