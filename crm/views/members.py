"""Members of the workspace (owners only) and the switch between the workspaces a user belongs to."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors, services
from crm.forms import MemberAddForm, MemberForm
from crm.middleware import SESSION_WORKSPACE_KEY
from crm.models import Member
from crm.views.access import owner_required


@owner_required
def member_list(request):
    members = selectors.members_of_workspace(workspace=request.workspace)
    return render(request, "crm/members/list.html", {"members": members})


@owner_required
def member_add(request):
    form = MemberAddForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            member = services.member_invite(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("username", error)
        else:
            messages.success(request, _("%(user)s joined the workspace.") % {"user": member.user.get_username()})
            return redirect("crm:member_list")
    return render(request, "crm/members/form.html", {"form": form}, status=400 if form.errors else 200)


def _workspace_member(request, pk) -> Member:
    return get_object_or_404(Member.objects.select_related("user"), workspace=request.workspace, pk=pk)


@owner_required
def member_edit(request, pk):
    member = _workspace_member(request, pk)
    initial = {
        "role": member.role,
        "limited_to_assigned_accounts": member.limited_to_assigned_accounts,
        "assigned_accounts": list(member.assigned_accounts.all()),
    }
    form = MemberForm(request.POST or None, initial=initial, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_update(member=member, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("%(user)s saved.") % {"user": member.user.get_username()})
            if member.pk == request.member.pk and not member.is_owner:
                return redirect("crm:contact_list")  # they just gave up the members page
            return redirect("crm:member_list")
    context = {"form": form, "edited": member}
    return render(request, "crm/members/form.html", context, status=400 if form.errors else 200)


@owner_required
def member_remove(request, pk):
    """GET asks to confirm; POST removes."""
    member = _workspace_member(request, pk)
    if request.method != "POST":
        return render(request, "crm/members/remove.html", {"edited": member})
    try:
        services.member_remove(member=member)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("crm:member_list")
    messages.success(request, _("%(user)s was removed from the workspace.") % {"user": member.user.get_username()})
    if member.pk == request.member.pk:
        return redirect("crm:contact_list")
    return redirect("crm:member_list")


@login_required
@require_POST
def workspace_switch(request):
    """Work in another workspace the user belongs to; any other id is a 404."""
    workspace_id = request.POST.get("workspace", "")
    if not workspace_id.isdigit():
        raise Http404
    membership = get_object_or_404(Member.objects.select_related("workspace"), user=request.user, workspace_id=workspace_id)
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, _("Now working in %(workspace)s.") % {"workspace": membership.workspace.name})
    return redirect("crm:contact_list")
