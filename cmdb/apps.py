from django.apps import AppConfig


class CmdbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cmdb"
    verbose_name = "Configuration management (CMDB)"
