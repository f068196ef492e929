"""Customer groups (WeChat group chats): the list, a group's page with its members, and adding or removing them.

Anyone in the workspace may create and edit groups and add or remove members; deleting a group is the owner's.
A member adds and removes only contacts they may see."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm import selectors, services
from crm.forms import ContactSearchForm, CustomerGroupForm, GroupMembersAddForm
from crm.models import CustomerGroup
from crm.views.access import member_required, owner_required

PAGE_SIZE = 50
SEARCH_LIMIT = 20
SEARCH_RESULTS_ID = "member-search-results"


def _group(request, pk) -> CustomerGroup:
    return get_object_or_404(CustomerGroup.objects.select_related("owner_account"), workspace=request.workspace, pk=pk)


def _detail_url(group: CustomerGroup, page=None) -> str:
    url = reverse("crm:group_detail", args=[group.pk])
    return f"{url}?page={page}" if page and str(page).isdigit() else url


@member_required
def group_list(request):
    groups = selectors.customer_groups_with_counts(workspace=request.workspace)
    page = Paginator(groups, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "crm/groups/list.html", {"page": page})


@member_required
def group_create(request):
    form = CustomerGroupForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.customer_group_create(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Group “%(name)s” created.") % {"name": group.name})
            return redirect("crm:group_detail", pk=group.pk)
    return render(request, "crm/groups/form.html", {"form": form})


@member_required
def group_edit(request, pk):
    group = _group(request, pk)
    title = group.name  # the form writes the posted values onto the instance, valid or not
    form = CustomerGroupForm(request.POST or None, instance=group, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_group_update(group=group, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Group “%(name)s” saved.") % {"name": group.name})
            return redirect("crm:group_detail", pk=group.pk)
    return render(request, "crm/groups/form.html", {"form": form, "group": group, "title": title})


@owner_required
def group_delete(request, pk):
    group = _group(request, pk)
    if request.method == "POST":
        name = group.name
        services.customer_group_delete(group=group)
        messages.success(request, _("Group “%(name)s” deleted.") % {"name": name})
        return redirect("crm:group_list")
    return render(request, "crm/groups/delete.html", {"group": group, "member_count": group.memberships.count()})


@member_required
def group_detail(request, pk):
    """The group's notes and members, page by page, and the search for contacts to add (alone, for htmx)."""
    group = _group(request, pk)
    search_form = ContactSearchForm(request.GET)
    q = search_form.cleaned_data["q"].strip() if search_form.is_valid() else ""
    candidates = (
        selectors.customer_group_candidates(group=group, member=request.member, q=q, limit=SEARCH_LIMIT) if q else []
    )
    context = {"group": group, "search_form": search_form, "q": q, "candidates": candidates,
               "search_limit": SEARCH_LIMIT}
    if request.htmx and request.htmx.target == SEARCH_RESULTS_ID:
        return render(request, "crm/groups/_candidates.html", context)
    memberships = selectors.customer_group_memberships(group=group, member=request.member)
    context["page"] = Paginator(memberships, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "crm/groups/detail.html", context)


@member_required
@require_POST
def group_members_add(request, pk):
    group = _group(request, pk)
    form = GroupMembersAddForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("crm:group_detail", pk=group.pk)
    # Only contacts this member may see: ids of another workspace (or of unassigned accounts) are dropped here.
    contact_ids = list(
        selectors.contacts_visible_to(member=request.member)
        .filter(pk__in=form.cleaned_data["contacts"])
        .values_list("pk", flat=True)
    )
    added = services.customer_group_members_add(group=group, contact_ids=contact_ids, actor=request.user)
    messages.success(
        request,
        ngettext("%(count)d contact added to the group.", "%(count)d contacts added to the group.", added)
        % {"count": added},
    )
    return redirect("crm:group_detail", pk=group.pk)


@member_required
@require_POST
def group_member_remove(request, pk, contact_pk):
    group = _group(request, pk)
    contact = get_object_or_404(selectors.contacts_visible_to(member=request.member), pk=contact_pk)
    services.customer_group_member_remove(group=group, contact=contact, actor=request.user)
    messages.success(request, _("%(name)s removed from the group.") % {"name": contact.display_name})
    return redirect(_detail_url(group, request.POST.get("page")))
