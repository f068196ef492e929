from celery import shared_task

from wecom import events


@shared_task
def process_callback_event(event_id: int) -> None:
    """Apply one stored callback; safe to run twice (the event is claimed, a second run finds it done)."""
    events.event_process(event_id=event_id)
