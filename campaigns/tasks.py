"""Thin Celery wrappers around campaigns.services: ids in, the service does the work; every task is safe to run
twice."""

from celery import shared_task

from campaigns import sequences, services


@shared_task(bind=True, max_retries=None)
def deliveries_send_chunk(self, broadcast_id: int, first_id: int, last_id: int) -> int:
    try:
        return services.deliveries_send_chunk(broadcast_id=broadcast_id, first_id=first_id, last_id=last_id)
    except services.SendLater as error:
        # The rows are back in the queue; a short backoff (5 s, 10 s ... at most 5 minutes). Were this retry
        # lost, the tick queues the chunk again.
        raise self.retry(exc=error, countdown=min(5 * 2**self.request.retries, 300)) from None


@shared_task
def broadcasts_tick() -> None:
    services.broadcasts_tick()


@shared_task
def sequences_tick() -> int:
    return sequences.sequences_tick()
