"""Admin permissions for standard changes: every role of the process but a
vendor reads them; change managers approve (add) and withdraw (change) them,
signed, through ``releases.standard_changes``."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

READERS = ("release_manager", "change_manager", "cab_member", "delivery_manager", "build_team", "test_team",
           "deployment_team", "configuration_manager", "stakeholder")
WRITERS = {"change_manager": ("add", "change")}


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perm(action):
        return Permission.objects.get(content_type__app_label="releases", content_type__model="standardchange",
                                      codename=f"{action}_standardchange")

    for role in READERS:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(perm("view"), *[perm(action) for action in WRITERS.get(role, ())])


def backwards(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=READERS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="releases",
                                                            content_type__model="standardchange"))


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0025_standard_changes"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
