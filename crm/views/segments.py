"""Segments: the saved list with counts, a segment's contacts, and the visual rule builder.

The builder is server-rendered: the rule travels as JSON in a hidden input, every condition's parameters as
inputs named "<path>.<param>" (path "r" is the root group, "r_0_2" its first child's third child). A change, or a
builder button (add condition / group, NOT, remove), posts the whole form to segment_builder, which merges the
inputs into the JSON, applies the action and returns the builder again, with the live preview out of band.
Without JavaScript the same buttons post to the page itself, which does the same and renders the whole page.
Any member may create, edit and delete segments; counts and contacts are those the member may see.
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import segments, selectors
from crm.forms import SegmentForm
from crm.models import Contact, CustomerGroup, Order, Segment, Tag, TagGroup, WeChatAccount
from crm.views.access import member_required
from crm.views.contacts import CountedPaginator

PAGE_SIZE = 50
PREVIEW_SIZE = 20
LIST_PAGE_SIZE = 50


def _segment(request, pk) -> Segment:
    return get_object_or_404(Segment, workspace=request.workspace, pk=pk)


# Saved segments ------------------------------------------------------------------------------------------------------


def _count_or_none(member, rule):
    try:
        return segments.segment_count_for_member(member=member, rule=rule)
    except ValidationError:
        return None


@member_required
def segment_list(request):
    page = Paginator(selectors.segments_of_workspace(workspace=request.workspace), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(segment, _count_or_none(request.member, segment.rule)) for segment in page]
    return render(request, "crm/segments/list.html", {"page": page, "rows": rows})


@member_required
def segment_detail(request, pk):
    segment = _segment(request, pk)
    try:
        count = segments.segment_count_for_member(member=request.member, rule=segment.rule)
        contacts = segments.segment_contacts_for_member(member=request.member, rule=segment.rule)
    except ValidationError as error:
        count, contacts, errors = 0, Contact.objects.none(), error.messages
    else:
        errors = []
    contacts = contacts.select_related("owner_account").defer("description")
    page = CountedPaginator(contacts, PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    return render(
        request, "crm/segments/detail.html", {"segment": segment, "count": count, "page": page, "errors": errors}
    )


@member_required
def segment_delete(request, pk):
    segment = _segment(request, pk)
    if request.method == "POST":
        name = segment.name
        try:
            segments.segment_delete(segment=segment)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("crm:segment_detail", pk=segment.pk)
        messages.success(request, _("Segment “%(name)s” deleted.") % {"name": name})
        return redirect("crm:segment_list")
    return render(request, "crm/segments/delete.html", {"segment": segment})


# Create and edit -----------------------------------------------------------------------------------------------------


@member_required
def segment_create(request):
    return _segment_form(request, segment=None)


@member_required
def segment_edit(request, pk):
    return _segment_form(request, segment=_segment(request, pk))


def _segment_form(request, *, segment: Segment | None):
    if request.method != "POST":
        rule, read_errors = _rule_from_post({"rule": json.dumps(segment.rule)}) if segment else (segments.empty_rule(), [])
        form = SegmentForm(
            workspace=request.workspace, segment=segment,
            initial={"name": segment.name, "description": segment.description} if segment else None,
        )
        return _render_form(request, segment=segment, form=form, rule=rule, read_errors=read_errors)
    rule, read_errors = _rule_from_post(request.POST)
    if request.POST.get("action") or read_errors:  # a builder button without JavaScript, or an unreadable rule
        rule = _apply_action(rule, request.POST)
        form = SegmentForm(
            workspace=request.workspace, segment=segment,
            initial={"name": request.POST.get("name", ""), "description": request.POST.get("description", "")},
        )
        return _render_form(request, segment=segment, form=form, rule=rule, read_errors=read_errors)
    data = request.POST.copy()
    data["rule"] = json.dumps(rule)
    form = SegmentForm(data, workspace=request.workspace, segment=segment)
    if form.is_valid():
        fields = {key: form.cleaned_data[key] for key in ("name", "description", "rule")}
        try:
            if segment:
                segments.segment_update(segment=segment, **fields)
            else:
                segment = segments.segment_create(workspace=request.workspace, actor=request.user, **fields)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
            return redirect("crm:segment_detail", pk=segment.pk)
    rule_errors = list(form.errors.as_data().get("rule", []))
    return _render_form(request, segment=segment, form=form, rule=rule, rule_errors=rule_errors)


def _render_form(request, *, segment, form, rule, read_errors=(), rule_errors=None):
    context = {
        "form": form,
        "segment": segment,
        "title": segment.name if segment else "",
        **_builder_context(request, segment=segment, rule=rule, read_errors=read_errors, rule_errors=rule_errors),
    }
    return render(request, "crm/segments/form.html", context)


@member_required
@require_POST
def segment_builder(request, pk=None):
    """The builder after a change or a button: the builder fragment, and the preview out of band."""
    segment = _segment(request, pk) if pk else None
    rule, read_errors = _rule_from_post(request.POST)
    rule = _apply_action(rule, request.POST)
    context = _builder_context(request, segment=segment, rule=rule, read_errors=read_errors)
    return render(request, "crm/segments/_builder_response.html", context)


# The builder's state -------------------------------------------------------------------------------------------------


def _rule_from_post(data) -> tuple[dict, list[str]]:
    """The rule of the hidden input with the builder's inputs merged in. An unreadable rule starts again, empty,
    and says so."""
    try:
        rule = json.loads(data.get("rule") or "null")
    except ValueError:
        return segments.empty_rule(), [_("The rule could not be read, so the builder started again.")]
    if rule is None:
        return segments.empty_rule(), []
    if not (isinstance(rule, dict) and isinstance(rule.get("root"), dict) and "field" not in rule["root"]):
        return segments.empty_rule(), [_("The rule could not be read, so the builder started again.")]
    rule["root"] = _merge(rule["root"], "r", data)
    return rule, []


def _as_id(value: str):
    value = (value or "").strip()
    return int(value) if value.isdigit() else value


def _merge(node, path, data):
    """The node with the posted inputs of its path (and its children's) applied."""
    if not isinstance(node, dict):
        return node
    present = data.get(f"{path}.present") == "1"
    if "field" not in node:
        if present and data.get(f"{path}.op"):
            node["op"] = data.get(f"{path}.op")
        if isinstance(node.get("children"), list):
            node["children"] = [_merge(child, f"{path}_{i}", data) for i, child in enumerate(node["children"])]
        return node
    if not present:
        return node
    field = data.get(f"{path}.field") or node.get("field")
    if field != node.get("field"):
        return {**segments.new_condition(field), "not": node.get("not") is True}

    def one(key):
        return (data.get(f"{path}.{key}") or "").strip()

    def many(key, ids=True):
        values = [value for value in data.getlist(f"{path}.{key}") if value]
        return [_as_id(value) for value in values] if ids else values

    merged = {"field": field, "not": node.get("not") is True}
    if field == "tags":
        merged.update(match=one("match") or "any", tags=many("tags"))
    elif field == "tag_group":
        merged["group"] = _as_id(one("group"))
    elif field == "customer_group":
        merged["groups"] = many("groups")
    elif field == "account":
        merged["accounts"] = many("accounts")
    elif field in ("stage", "source"):
        merged["values"] = many("values", ids=False)
    elif field in ("added_at", "first_order"):
        mode = one("mode") if field == "added_at" else "range"
        if mode in ("within_days", "older_than_days"):
            merged[mode] = _as_id(one("days"))
        else:
            merged.update({key: one(key) for key in ("from", "to") if one(key)})
    elif field == "referred_by":
        merged["contact"] = _as_id(one("contact")) if one("mode") == "contact" else None
    elif field == "order_count":
        merged.update(op=one("op"), value=_as_id(one("value")))
        merged.update({key: one(key) for key in ("from", "to") if one(key)})
        if many("channels", ids=False):
            merged["channels"] = many("channels", ids=False)
    elif field == "total_spent":
        merged.update(op=one("op"), amount=one("amount"))
    elif field == "last_order":
        mode = one("mode")
        if mode == "never":
            merged["never"] = True
        else:
            merged[mode if mode in ("within_days", "older_than_days") else "within_days"] = _as_id(one("days"))
    elif field == "order_channel":
        merged["channels"] = many("channels", ids=False)
    elif field == "in_segment":
        merged["segment"] = _as_id(one("segment"))
    elif field == "moment_engagement":
        merged.update(kind=one("kind") or "either", within_days=_as_id(one("days")))
    else:
        return node  # an unknown field stays as it was, and the builder says why
    return merged


def _apply_action(rule: dict, data) -> dict:
    """The builder button's action ("toggle_not:r_0", "add_condition:r"...), if one was pressed."""
    action, _sep, path = (data.get("action") or "").partition(":")
    if not action:
        return rule
    return segments.rule_edit(rule, action=action, path=path, field_name=data.get(f"{path}.new_field", ""))


def _builder_context(request, *, segment, rule, read_errors=(), rule_errors=None) -> dict:
    """The builder (its node tree, with each node's errors) and the preview of the rule."""
    workspace, member = request.workspace, request.member
    if rule_errors is None:
        try:
            segments.validate_rule(workspace=workspace, rule=rule, segment=segment)
        except ValidationError as error:
            rule_errors = error.error_list
        else:
            rule_errors = []
    by_path: dict[str, list[str]] = {}
    for error in rule_errors:
        path = (error.params or {}).get("path", "")
        by_path.setdefault(path, []).extend(error.messages)
    choices = _Choices(workspace=workspace, segment=segment)
    tree = _view_node(rule.get("root"), "r", by_path, choices)
    general = list(read_errors) + [message for messages_ in by_path.values() for message in messages_]
    preview = {"errors": bool(rule_errors) or bool(read_errors)}
    if not preview["errors"]:
        try:
            preview["count"] = segments.segment_count_for_member(member=member, rule=rule)
            contacts = segments.segment_contacts_for_member(member=member, rule=rule).select_related("owner_account")
            preview["contacts"] = list(contacts[:PREVIEW_SIZE])
        except ValidationError as error:  # a nested segment whose stored rule is broken
            preview["errors"] = True
            general.extend(error.messages)
    return {
        "rule_json": json.dumps(rule, ensure_ascii=False),
        "tree": tree,
        "rule_errors": general,
        "preview": preview,
        "field_choices": [(name, str(label)) for name, label in segments.FIELD_LABELS.items()],
        "builder_url": (
            reverse("crm:segment_builder_edit", args=[segment.pk]) if segment else reverse("crm:segment_builder")
        ),
    }


class _Choices:
    """Everything the builder's selects offer, loaded once per request."""

    def __init__(self, *, workspace, segment):
        def label(tag):
            return f"{tag.group.name} / {tag.name}" if tag.group_id else tag.name

        self.tags = [(tag.pk, label(tag)) for tag in Tag.objects.filter(workspace=workspace).select_related("group")
                     .order_by("group__position", "group__name", "name")]
        self.tag_groups = list(TagGroup.objects.filter(workspace=workspace).values_list("pk", "name"))
        self.customer_groups = list(
            CustomerGroup.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name")
        )
        self.accounts = list(WeChatAccount.objects.filter(workspace=workspace).values_list("pk", "name"))
        self.segments = list(
            Segment.objects.filter(workspace=workspace).exclude(pk=segment.pk if segment else None)
            .order_by("name").values_list("pk", "name")
        )
        self.workspace = workspace


def _options(choices, selected) -> list[tuple[str, str, bool]]:
    if not isinstance(selected, (list, tuple, set)):
        selected = [selected]
    wanted = {str(value) for value in selected}
    return [(str(value), str(label), str(value) in wanted) for value, label in choices]


# The input name of a condition's one list or choice.
_PARAM_NAMES = {
    "tags": "tags", "tag_group": "group", "customer_group": "groups", "account": "accounts", "stage": "values",
    "source": "values", "order_channel": "channels", "order_count": "channels", "in_segment": "segment",
}


def _view_node(node, path: str, errors: dict, choices: _Choices) -> dict:
    """What the builder template shows for one node (tolerant of any malformed part, which it marks)."""
    view = {"path": path, "errors": errors.pop(path, []), "is_root": path == "r"}
    if not isinstance(node, dict):
        view["kind"] = "broken"
        return view
    view["negated"] = node.get("not") is True
    if "field" not in node:
        children = node.get("children") if isinstance(node.get("children"), list) else []
        view.update(
            kind="group", op=node.get("op"),
            children=[_view_node(child, f"{path}_{i}", errors, choices) for i, child in enumerate(children)],
        )
        return view
    field = node.get("field")
    view.update(kind="condition", field=field, known=field in segments.FIELDS, param=_PARAM_NAMES.get(field, ""))
    get = node.get
    if field == "tags":
        view.update(match=get("match"), options=_options(choices.tags, get("tags") or []))
    elif field == "tag_group":
        view["options"] = _options(choices.tag_groups, get("group"))
    elif field == "customer_group":
        view["options"] = _options(choices.customer_groups, get("groups") or [])
    elif field == "account":
        view["options"] = _options(choices.accounts, get("accounts") or [])
    elif field == "stage":
        view["options"] = _options(Contact.Stage.choices, get("values") or [])
    elif field == "source":
        view["options"] = _options(Contact.Source.choices, get("values") or [])
    elif field in ("added_at", "first_order", "order_count"):
        view.update(date_from=get("from") or "", date_to=get("to") or "")
    if field in ("added_at", "last_order"):
        mode = next((key for key in ("within_days", "older_than_days", "never") if key in node), "range")
        view.update(mode=mode, days=get(mode) if mode in ("within_days", "older_than_days") else "")
    if field == "referred_by":
        contact_id = get("contact")
        view.update(mode="any" if contact_id is None else "contact", contact=contact_id or "")
        if isinstance(contact_id, int):
            referrer = Contact.objects.filter(workspace=choices.workspace, pk=contact_id).first()
            view["referrer"] = referrer.display_name if referrer else ""
    if field in ("order_count", "total_spent"):
        view.update(op=get("op"), value=get("value", ""), amount=get("amount", ""))
    if field in ("order_count", "order_channel"):
        view["options"] = _options(Order.Channel.choices, get("channels") or [])
    if field == "in_segment":
        view["options"] = _options(choices.segments, get("segment"))
    if field == "moment_engagement":
        view.update(engagement=get("kind"), mode="within_days", days=get("within_days"))
    return view
