"""Celery application: delivers the outbox (notifications, calendar, vendor routing)."""
import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings")

app = Celery("releasemgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _worker_entry_point(**kwargs):
    # What a task does (a vendor's update relayed, a delivery) names the worker.
    from releasemgmt import entrypoints

    entrypoints.set_default(entrypoints.WORKER)
