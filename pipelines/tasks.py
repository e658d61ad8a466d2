"""Celery tasks of the pipelines app: the GitHub and GitLab adapters' checks
that wait on the gate, asked again on the beat schedule
(``settings.CELERY_BEAT_SCHEDULE["adapter-checks"]``). Without a broker
they are asked again in process after each release transition instead
(``pipelines.adapters.checks.on_release_event``)."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="pipelines.tasks.answer_adapter_checks", acks_late=True, ignore_result=True)
def answer_adapter_checks(limit: int = 200) -> int:
    """Answer the due checks the gate now decides; returns how many went out."""
    from .adapters.checks import answer_due

    return answer_due(limit=limit)
