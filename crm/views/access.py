"""Who may open a page: a signed-in member of a workspace, and for some pages only its owner."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render


def member_required(view):
    """The signed-in user works in a workspace; request.member and request.workspace are set."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.member:
            return render(request, "crm/no_workspace.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def owner_required(view):
    """Only the workspace's owner: members and workspace settings."""

    @member_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.member.is_owner:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
