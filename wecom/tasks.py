from celery import shared_task

from wecom import contact_ways, events, moments, results, sync, sync_push


@shared_task
def process_callback_event(event_id: int) -> None:
    """Apply one stored callback; safe to run twice (the event is claimed, a second run finds it done)."""
    events.event_process(event_id=event_id)


@shared_task
def mass_send_results_poll() -> int:
    """The beat's: fetch the results of the mass sends waiting for them (wecom/results.py); safe to run twice."""
    return results.mass_sends_poll()


@shared_task
def moment_tasks_poll() -> int:
    """The beat's: follow the moments handed to WeCom (wecom/moments.py); safe to run twice."""
    return moments.moment_tasks_poll()


@shared_task
def sync_workspace(workspace_id: int) -> None:
    """The full WeCom sync of one workspace (wecom/sync.py); a second run at once finds the first's lease and
    returns, a run cut off continues from its cursor."""
    if sync.unfinished(sync.sync_workspace(workspace_id=workspace_id)):
        sync_workspace.delay(workspace_id)  # out of time: the next page goes on in a new task


@shared_task
def sync_all() -> None:
    """The beat's (every six hours): queue the full sync of every workspace with WeCom credentials."""
    for workspace_id in sync.workspaces_due():
        sync_workspace.delay(workspace_id)


@shared_task
def sync_for_event(event_id: int) -> None:
    """The small sync a callback event asked for (one customer, one chat, the tag list)."""
    sync.sync_for_event(event_id=event_id)


@shared_task
def push_contacts(workspace_id: int, contact_ids: list[int]) -> None:
    """Write Siyu's tag and remark changes of these contacts to WeCom; safe to run twice (wecom/sync_push.py)."""
    sync_push.contacts_push(workspace_id=workspace_id, contact_ids=contact_ids)


@shared_task
def contact_ways_for_campaign(campaign_id: int, actor_id: int | None = None) -> int:
    """A channel QR code for each participant still without one; safe to run twice (one per participant)."""
    return contact_ways.contact_ways_for_campaign_id(campaign_id=campaign_id, actor_id=actor_id)
