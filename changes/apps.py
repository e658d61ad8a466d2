from django.apps import AppConfig


class ChangesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "changes"
    verbose_name = "Change management (RFCs)"

    def ready(self):
        from releasemgmt import imports

        from .resources import ChangeRequestResource

        # For manage.py import_cmdb / export_cmdb (--model rfcs).
        imports.register("rfcs", ChangeRequestResource)
