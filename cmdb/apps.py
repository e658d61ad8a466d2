from django.apps import AppConfig


class CmdbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cmdb"
    verbose_name = "Configuration management (CMDB)"

    def ready(self):
        from releasemgmt import imports

        from .resources import ConfigurationItemResource

        # For manage.py import_cmdb / export_cmdb (--model cis).
        imports.register("cis", ConfigurationItemResource)
