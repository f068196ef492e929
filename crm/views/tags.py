"""The tag page: tags by tag group with their contact counts; creating, renaming, regrouping, merging and deleting
tags, and the tag groups themselves. Anyone in the workspace may create tags and tag groups and edit a group;
renaming, merging and deleting tags and deleting tag groups are the owner's."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm import selectors, services
from crm.forms import TagForm, TagGroupForm, TagMergeForm
from crm.models import Tag, TagGroup
from crm.views.access import member_required, owner_required


def _warn_exclusive_conflicts(request, group: TagGroup | None) -> None:
    """An exclusive group whose contacts already hold several of its tags: say how many, take nothing off."""
    if not group or not group.exclusive:
        return
    count = selectors.tag_group_conflict_count(group=group)
    if count:
        messages.warning(
            request,
            ngettext(
                "%(count)d contact already holds more than one tag of the exclusive group “%(group)s”; "
                "they keep them until their tags are next changed.",
                "%(count)d contacts already hold more than one tag of the exclusive group “%(group)s”; "
                "they keep them until their tags are next changed.",
                count,
            )
            % {"count": count, "group": group.name},
        )


@member_required
def tag_list(request):
    return render(
        request,
        "crm/tags/list.html",
        {
            "sections": selectors.tag_overview(workspace=request.workspace),
            "form": TagForm(workspace=request.workspace),
        },
    )


@member_required
def tag_create(request):
    form = TagForm(request.POST or None, workspace=request.workspace, initial={"group": request.GET.get("group")})
    if request.method == "POST" and form.is_valid():
        try:
            tag = services.tag_create(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("Tag “%(name)s” created.") % {"name": tag.name})
            return redirect("crm:tag_list")
    return render(request, "crm/tags/form.html", {"form": form})


@owner_required
def tag_edit(request, pk):
    tag = get_object_or_404(Tag, workspace=request.workspace, pk=pk)
    form = TagForm(
        request.POST or None, workspace=request.workspace, tag=tag, initial={"name": tag.name, "group": tag.group_id}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_update(tag=tag, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("Tag “%(name)s” saved.") % {"name": tag.name})
            _warn_exclusive_conflicts(request, tag.group)
            return redirect("crm:tag_list")
    return render(request, "crm/tags/form.html", {"form": form, "tag": tag})


@owner_required
def tag_merge(request, pk):
    """Merge this tag into another: its contacts get the other tag, then this one is deleted."""
    tag = get_object_or_404(Tag, workspace=request.workspace, pk=pk)
    counts = selectors.tag_contact_counts(workspace=request.workspace)
    initial = {"target": request.GET.get("target")} if str(request.GET.get("target", "")).isdigit() else {}
    form = TagMergeForm(request.POST or None, tag=tag, counts=counts, initial=initial)
    if request.method == "POST" and form.is_valid():
        source_name, target = tag.name, form.cleaned_data["target"]
        try:
            moved = services.tag_merge(source=tag, target=target)
        except ValidationError as error:
            form.add_error("target", error)
        else:
            messages.success(
                request,
                ngettext(
                    "“%(source)s” merged into “%(target)s” (%(count)d contact).",
                    "“%(source)s” merged into “%(target)s” (%(count)d contacts).",
                    moved,
                )
                % {"source": source_name, "target": target.name, "count": moved},
            )
            _warn_exclusive_conflicts(request, target.group)
            return redirect("crm:tag_list")
    return render(request, "crm/tags/merge.html", {"tag": tag, "form": form, "count": counts.get(tag.pk, 0)})


@owner_required
def tag_delete(request, pk):
    tag = get_object_or_404(Tag, workspace=request.workspace, pk=pk)
    if request.method == "POST":
        name = tag.name
        services.tag_delete(tag=tag)
        messages.success(request, _("Tag “%(name)s” deleted.") % {"name": name})
        return redirect("crm:tag_list")
    count = selectors.tag_contact_counts(workspace=request.workspace).get(tag.pk, 0)
    return render(request, "crm/tags/delete.html", {"tag": tag, "count": count})


@member_required
def tag_group_create(request):
    form = TagGroupForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.tag_group_create(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("Tag group “%(name)s” created.") % {"name": group.name})
            return redirect("crm:tag_list")
    return render(request, "crm/tags/group_form.html", {"form": form})


@member_required
def tag_group_edit(request, pk):
    group = get_object_or_404(TagGroup, workspace=request.workspace, pk=pk)
    title = group.name  # the form writes the posted values onto the instance, valid or not
    form = TagGroupForm(request.POST or None, instance=group, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_group_update(group=group, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("Tag group “%(name)s” saved.") % {"name": group.name})
            _warn_exclusive_conflicts(request, group)
            return redirect("crm:tag_list")
    return render(request, "crm/tags/group_form.html", {"form": form, "group": group, "title": title})


@owner_required
def tag_group_delete(request, pk):
    group = get_object_or_404(TagGroup, workspace=request.workspace, pk=pk)
    if request.method == "POST":
        name = group.name
        services.tag_group_delete(group=group)
        messages.success(request, _("Tag group “%(name)s” deleted; its tags are kept, ungrouped.") % {"name": name})
        return redirect("crm:tag_list")
    return render(request, "crm/tags/group_delete.html", {"group": group, "tag_count": group.tags.count()})
