"""Duplicate contacts: the groups found, merging a group into the contact chosen to survive, and undoing a merge."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import duplicates, selectors
from crm.views.access import member_required

RECENT_MERGES = 20


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _back(request, default: str):
    """The page the form came from (a path of this site only), else `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


@member_required
def duplicate_list(request):
    reason = request.GET.get("reason", "phone")
    if reason not in duplicates.REASONS:
        reason = "phone"
    page = duplicates.duplicate_groups(member=request.member, reason=reason, page=_page_number(request.GET.get("page")))
    context = {
        "reasons": [(key, label) for key, label in duplicates.REASONS.items()],
        "reason": reason,
        "page": page,
        "merges": duplicates.merges_visible_to(member=request.member)[:RECENT_MERGES],
        "next": request.get_full_path(),
    }
    return render(request, "crm/duplicates/list.html", context)


@member_required
def contact_duplicates(request, pk):
    contact = get_object_or_404(selectors.contacts_visible_to(member=request.member), pk=pk)
    context = {
        "contact": contact,
        "groups": duplicates.duplicates_of(member=request.member, contact=contact),
        "next": "",  # after a merge: the survivor's page (this contact may be the one merged away)
    }
    return render(request, "crm/duplicates/contact.html", context)


@member_required
@require_POST
def duplicate_merge(request):
    """Merge every contact of a group (`contacts`) into the one chosen to survive (`survivor`)."""
    visible = selectors.contacts_visible_to(member=request.member)
    survivor_id = request.POST.get("survivor", "")
    if not survivor_id.isdigit():
        messages.error(request, _("Choose the contact to keep."))
        return _back(request, reverse("crm:duplicate_list"))
    survivor = get_object_or_404(visible, pk=int(survivor_id))
    back = _back(request, reverse("crm:contact_detail", args=[survivor.pk]))
    ids = {int(value) for value in request.POST.getlist("contacts") if value.isdigit()} - {survivor.pk}
    if not ids:
        messages.error(request, _("Choose at least two contacts to merge."))
        return back
    others = list(visible.filter(pk__in=ids).order_by("pk"))
    if len(others) != len(ids):
        raise Http404  # another workspace's contact, or one the member may not see
    try:
        with transaction.atomic():
            for duplicate in others:
                duplicates.contact_merge(survivor=survivor, duplicate=duplicate, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    messages.success(
        request,
        _("%(count)d contacts merged into “%(name)s”. You can undo this from its timeline.")
        % {"count": len(others), "name": survivor.display_name},
    )
    return back


@member_required
@require_POST
def contact_merge_undo(request, pk):
    merge = get_object_or_404(duplicates.merges_visible_to(member=request.member), pk=pk)
    back = _back(request, reverse("crm:contact_detail", args=[merge.survivor_id]))
    try:
        duplicates.contact_merge_undo(merge=merge, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    messages.success(
        request,
        _("Merge undone: “%(name)s” is a contact of its own again.") % {"name": merge.duplicate.display_name},
    )
    return back
