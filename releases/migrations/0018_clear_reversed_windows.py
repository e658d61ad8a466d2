"""Releases and tasks whose planned window ends before it starts are
repaired, so that the database can hold the rule (0019).

Before that rule the service accepted a window ending before it starts
(only the API and the form refused one), so such rows may exist. The
constraint could not be added over them: each one's planned end is cleared
first (the release or task is then "not yet fully planned", which the
guards already refuse to submit or schedule, so its manager sets a window
again), with a history row saying why, so what was stored stays visible in
the history. The constraints follow in their own migration: on PostgreSQL
a table changed in a transaction cannot be altered in it while its deferred
checks are pending.
"""
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

REASON = "planned end cleared: it was before the start"


def clear_reversed_windows(apps, schema_editor):
    now = timezone.now()
    for name, reversed_end in (("Release", "planned_end__lte"), ("Task", "planned_end__lt")):
        model = apps.get_model("releases", name)
        history = apps.get_model("releases", f"Historical{name}")
        rows = model.objects.filter(planned_start__isnull=False, **{reversed_end: models.F("planned_start")})
        for obj in rows.order_by("pk"):
            obj.planned_end = None
            model.objects.filter(pk=obj.pk).update(planned_end=None)
            row = history.objects.create(
                **{f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields},
                history_date=now, history_type="~", history_change_reason=REASON)
            if name == "Release":
                rfcs = apps.get_model("releases", "HistoricalRelease_rfcs")
                links = model.rfcs.through.objects.filter(release_id=obj.pk).values_list("pk", "changerequest_id")
                rfcs.objects.bulk_create([rfcs(id=pk, history=row, release_id=obj.pk, changerequest_id=rfc_id)
                                          for pk, rfc_id in links])


class Migration(migrations.Migration):

    dependencies = [
        ('changes', '0003_rfc_raised_by'),
        ('releases', '0017_signatures'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(clear_reversed_windows, migrations.RunPython.noop),
    ]
