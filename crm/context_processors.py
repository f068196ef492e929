from crm import selectors


def workspace(request):
    member = getattr(request, "member", None)
    if not member:
        return {}
    return {
        "member": member,
        "workspace": member.workspace,
        "worker_heartbeat": selectors.heartbeat_last_seen(),
    }
