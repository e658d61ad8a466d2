"""A vendor sees and updates only its own tasks: in admin it gets the task
permissions and nothing else (the admin and the API narrow the rows)."""
from django.db import migrations


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="vendor")
    group.permissions.set(Permission.objects.filter(content_type__app_label="releases",
                                                    codename__in=["view_task", "change_task"]))


class Migration(migrations.Migration):
    dependencies = [("releases", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
