"""The contract's roles as Django groups, with the model permissions each needs
for Django admin. The transition service checks roles itself; these
permissions decide what the admin shows and lets a role add or edit."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("releases", "changes", "cmdb")

# Records each role writes (add + change), by model name.
WRITES = {
    "release_manager": [
        "release", "releasescopeitem", "task", "releaseplan", "buildDocument", "securitycheck",
        "prerequisitecheck", "testcase", "testresult", "rollbackplan", "preimplementationcheck",
        "environmentreadiness", "communication", "readinessassessment", "trainingplan", "backup", "healthcheck",
        "problemreference", "closurecomment", "baseline", "freezewindow",
    ],
    "change_manager": ["changeevaluation", "postimplementationreview", "rollbackadvice", "problemreference",
                       "freezewindow"],
    "cab_member": ["cabvote"],
    "delivery_manager": ["readinessassessment", "trainingplan", "rollbackadvice"],
    "build_team": ["builddocument", "securitycheck", "prerequisitecheck", "task"],
    "test_team": ["testcase", "testresult", "task"],
    "deployment_team": ["environmentreadiness", "backup", "healthcheck", "task"],
    "configuration_manager": ["configurationitem", "baseline", "prerequisitecheck"],
    "vendor": ["task"],
    "stakeholder": [],
}


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = list(Permission.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_"))
    for role, models in WRITES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = list(view)
        names = {m.lower() for m in models}
        if role != "vendor":
            names.add("changerequest")  # anyone in the process may raise an RFC
        perms += list(
            Permission.objects.filter(
                content_type__app_label__in=APPS,
                content_type__model__in=names,
                codename__regex=r"^(add|change)_",
            )
        )
        group.permissions.set(perms)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=WRITES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0001_initial"),
        ("changes", "0001_initial"),
        ("cmdb", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
