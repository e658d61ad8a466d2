"""The stays of the releases an installation already has, from their
transition log: two set-based INSERT ... SELECT statements (one for each
release's first stay, one for a stay per transition), whatever the size."""
from django.db import migrations


def backfill(apps, schema_editor):
    from reports.stays import rebuild

    ContentType = apps.get_model("contenttypes", "ContentType")
    Release = apps.get_model("releases", "Release")
    ct = ContentType.objects.filter(app_label="releases", model="release").values_list("pk", flat=True).first()
    if ct is None and Release.objects.exists():
        raise RuntimeError("Releases without their content type: run the contenttypes migrations first.")
    rebuild(stay_model=apps.get_model("reports", "Stay"), release_model=Release,
            log_model=apps.get_model("releases", "TransitionLog"), release_ct=ct or 0, facts=False)


def forget(apps, schema_editor):
    apps.get_model("reports", "Stay").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("reports", "0001_stays"),
    ]

    operations = [migrations.RunPython(backfill, forget)]
