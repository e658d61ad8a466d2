"""Admin permissions for release templates and problem records: every role
of the process but a vendor reads them; release managers keep templates
(their items are removed through the template's inlines, hence delete on the
items only); release and change managers open and work problem records."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

READERS = ("release_manager", "change_manager", "cab_member", "delivery_manager", "build_team", "test_team",
           "deployment_team", "configuration_manager", "stakeholder")
MODELS = {("releases", "releasetemplate"), ("releases", "templatetask"), ("releases", "templatetestcase"),
          ("changes", "problem")}
WRITES = {
    "release_manager": {"releasetemplate": ("add", "change"), "templatetask": ("add", "change", "delete"),
                        "templatetestcase": ("add", "change", "delete"), "problem": ("add", "change")},
    "change_manager": {"problem": ("add", "change")},
}


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perm(app, model, action):
        return Permission.objects.get(content_type__app_label=app, content_type__model=model,
                                      codename=f"{action}_{model}")

    for role in READERS:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*[perm(app, model, "view") for app, model in MODELS])
        for model, actions in WRITES.get(role, {}).items():
            app = "changes" if model == "problem" else "releases"
            group.permissions.add(*[perm(app, model, action) for action in actions])


def backwards(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=READERS):
        group.permissions.remove(*Permission.objects.filter(
            content_type__app_label__in=("releases", "changes"),
            content_type__model__in=[m for _, m in MODELS]))


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0007_release_templates"),
        ("changes", "0002_problems"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
