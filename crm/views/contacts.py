import hashlib
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from crm import selectors, services, tasks
from crm.forms import (
    AvatarForm,
    BulkTagForm,
    ContactForm,
    ContactTagsForm,
    contact_filter_from_query,
    NoteForm,
    OrderForm,
    RemarkForm,
    ReplyForm,
)
from crm.models import Order
from crm.views.access import member_required

PAGE_SIZE = 50


class CountedPaginator(Paginator):
    """A paginator told its count, so a cached count spares the database a full count on every page."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count


def _visible_contact(request, pk):
    return get_object_or_404(selectors.contacts_visible_to(member=request.member), pk=pk)


def _filtered_contacts(request, data):
    form, filters = contact_filter_from_query(member=request.member, data=data)
    return form, filters, selectors.contact_list(member=request.member, filters=filters)


@member_required
def contact_list(request):
    form, filters, contacts = _filtered_contacts(request, request.GET)
    count = selectors.contact_list_count(member=request.member, filters=filters, contacts=contacts)
    page = CountedPaginator(contacts, PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    query_string = _query_without_page(request)
    context = {
        "page": page,
        "rows_html": _rows_html(request, filters=filters, contacts=contacts, page_number=page.number),
        "count": count,
        "query_string": query_string,
        "bulk_form": BulkTagForm(),
        "tag_suggestions": selectors.contact_filter_choices(member=request.member).tag_names,
    }
    if request.htmx and request.htmx.target == "contact-results":
        return render(request, "crm/contacts/_results.html", context)
    context["filters_html"] = _cached_html(
        request, f"contact-filters:{_digest(query_string)}", "crm/contacts/_filters.html", lambda: {"filter_form": form}
    )
    return render(request, "crm/contacts/list.html", context)


def _rows_html(request, *, filters, contacts, page_number: int) -> str:
    """The page's table rows (selection checkboxes unchecked; the CSRF token sits outside them)."""

    def context():
        # Deep pages of a tag or text filter come from the cached ordered ids, not from OFFSET.
        start = (page_number - 1) * PAGE_SIZE
        page_contacts = selectors.contact_list_page(
            member=request.member, filters=filters, contacts=contacts, start=start, stop=start + PAGE_SIZE
        )
        return {"contacts": selectors.contact_list_rows(contacts=page_contacts)}

    name = f"contact-rows:{filters.fingerprint()}:{page_number}"
    return _cached_html(request, name, "crm/contacts/_rows.html", context)


def _cached_html(request, name: str, template: str, context: Callable[[], dict]) -> str:
    """A fragment of the contact list rendered once and kept until the book changes, like the count and the id
    list (docs/performance.md): rendering the 50 rows with their ~650 tag chips and the filters' ~250 options is
    most of the list's cost, and a seller paging back and forth, or several staff on the same list, ask for the
    same fragments again. A fragment may depend on the member's scope and language (both in the key), never on
    anything else about the request."""
    member = request.member
    key = f"{name}:{selectors.member_scope(member)}:{get_language()}"
    return selectors.cached_for_workspace(
        workspace_id=member.workspace_id, name=key, compute=lambda: render_to_string(template, context())
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@member_required
@require_POST
def contact_bulk_tag(request):
    form = BulkTagForm(request.POST)
    back = redirect(f"{reverse('crm:contact_list')}?{request.POST.get('query', '')}")
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return back
    try:
        tags = services.tags_from_names(workspace=request.workspace, names=form.cleaned_data["tags"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    add, remove = (tags, []) if form.cleaned_data["action"] == "add" else ([], tags)
    if form.cleaned_data["everything"]:
        return _bulk_tag_everything(request, add, remove, back)
    contact_ids = list(
        selectors.contacts_visible_to(member=request.member)
        .filter(pk__in=form.cleaned_data["contacts"])
        .values_list("pk", flat=True)
    )
    try:
        change = services.contacts_tag(
            workspace=request.workspace, contact_ids=contact_ids, add=add, remove=remove, actor=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    messages.success(
        request,
        _("%(contacts)d contacts: %(added)d tags added, %(removed)d removed.")
        % {"contacts": len(contact_ids), "added": change.added, "removed": change.removed},
    )
    return back


def _bulk_tag_everything(request, add, remove, back):
    """A whole filter may match a million contacts: the work goes to Celery, in batches."""
    query = request.POST.get("query", "")
    form, filters, contacts = _filtered_contacts(request, QueryDict(query))
    count = selectors.contact_list_count(member=request.member, filters=filters, contacts=contacts)
    transaction.on_commit(
        lambda: tasks.contacts_bulk_tag.delay(
            member_id=request.member.pk,
            query=query,
            add_tag_ids=[t.pk for t in add],
            remove_tag_ids=[t.pk for t in remove],
        )
    )
    messages.success(
        request,
        _("Tagging %(count)d contacts in the background; refresh in a moment to see the result.")
        % {"count": count},
    )
    return back


@member_required
def contact_create(request):
    form = ContactForm(request.POST or None, member=request.member)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(workspace=request.workspace, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Contact added."))
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(request, "crm/contacts/form.html", {"form": form})


@member_required
def contact_edit(request, pk):
    contact = _visible_contact(request, pk)
    form = ContactForm(request.POST or None, instance=contact, member=request.member)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(contact=contact, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Contact saved."))
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(request, "crm/contacts/form.html", {"form": form, "contact": contact})


@member_required
def contact_detail(request, pk):
    contact = _visible_contact(request, pk)
    return render(request, "crm/contacts/detail.html", _detail_context(request, contact))


def _detail_context(request, contact, **extra):
    return {
        "contact": contact,
        "tags": selectors.contact_tags(contact=contact),
        "groups": contact.customer_groups.order_by("name"),
        "orders": contact.orders.all()[:50],
        "timeline": selectors.contact_timeline(contact=contact),
        "note_form": NoteForm(),
        "order_form": OrderForm(),
        "avatar_form": AvatarForm(),
        "reply_form": ReplyForm(),
        "tag_suggestions": selectors.contact_filter_choices(member=request.member).tag_names,
        **extra,
    }


@member_required
def contact_remark(request, pk):
    """The remark shown in place, its inline editor (GET ?edit=1) and its save (POST)."""
    contact = _visible_contact(request, pk)
    form = RemarkForm(request.POST or None, initial={"remark_name": contact.remark_name, "description": contact.description})
    if request.method == "POST" and form.is_valid():
        services.contact_remark_update(contact=contact, actor=request.user, **form.cleaned_data)
        return _after_inline_save(request, contact, "crm/contacts/_remark_saved.html")
    editing = request.method == "POST" or request.GET.get("edit")
    template = "crm/contacts/_remark_form.html" if editing else "crm/contacts/_remark.html"
    return _fragment_or_page(request, contact, template, {"contact": contact, "form": form})


@member_required
def contact_tags(request, pk):
    """The contact's tags in place, their inline editor (GET ?edit=1) and its save (POST)."""
    contact = _visible_contact(request, pk)
    current = selectors.contact_tags(contact=contact)
    form = ContactTagsForm(request.POST or None, initial={"tags": ", ".join(tag.name for tag in current)})
    if request.method == "POST" and form.is_valid():
        try:
            tags = services.tags_from_names(workspace=request.workspace, names=form.cleaned_data["tags"])
            services.contact_tags_set(contact=contact, tags=tags, actor=request.user)
        except ValidationError as error:
            form.add_error("tags", error)
        else:
            return _after_inline_save(request, contact, "crm/contacts/_tags.html")
    editing = request.method == "POST" or request.GET.get("edit")
    template = "crm/contacts/_tags_form.html" if editing else "crm/contacts/_tags.html"
    context = {"contact": contact, "form": form, "tags": current,
               "tag_suggestions": selectors.contact_filter_choices(member=request.member).tag_names}
    return _fragment_or_page(request, contact, template, context)


def _after_inline_save(request, contact, template):
    if request.htmx:
        response = render(request, template, {"contact": contact, "tags": selectors.contact_tags(contact=contact)})
        response["HX-Trigger"] = "timeline-changed"
        return response
    return redirect("crm:contact_detail", pk=contact.pk)


def _fragment_or_page(request, contact, template, context):
    if request.htmx:
        return render(request, template, context, status=400 if context["form"].errors else 200)
    extra = {key: value for key, value in context.items() if key != "contact"}
    return render(request, "crm/contacts/detail.html", _detail_context(request, contact, **extra))


@member_required
def contact_timeline(request, pk):
    contact = _visible_contact(request, pk)
    return render(request, "crm/contacts/_timeline.html", {"contact": contact, "timeline": selectors.contact_timeline(contact=contact)})


@member_required
@require_POST
def contact_note_add(request, pk):
    contact = _visible_contact(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        services.contact_note_add(contact=contact, actor=request.user, **form.cleaned_data)
        if not request.htmx:
            return redirect("crm:contact_detail", pk=contact.pk)
        form = NoteForm()
    context = {"contact": contact, "note_form": form, "timeline": selectors.contact_timeline(contact=contact)}
    if request.htmx:
        return render(request, "crm/contacts/_notes.html", context, status=200 if not form.errors else 400)
    return render(request, "crm/contacts/detail.html", _detail_context(request, contact, note_form=form), status=400)


@member_required
@require_POST
def contact_avatar(request, pk):
    contact = _visible_contact(request, pk)
    form = AvatarForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.contact_avatar_set(contact=contact, upload=form.cleaned_data["avatar"])
        except ValidationError as error:
            form.add_error("avatar", error)
    if form.errors:
        return render(request, "crm/contacts/detail.html", _detail_context(request, contact, avatar_form=form), status=400)
    messages.success(request, _("Avatar updated."))
    return redirect("crm:contact_detail", pk=contact.pk)


@member_required
def contact_avatar_image(request, pk):
    """Avatars are customers' photos: served only to members who may see the contact, never as public media."""
    contact = _visible_contact(request, pk)
    if not contact.avatar:
        raise Http404
    response = FileResponse(contact.avatar.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@member_required
@require_POST
def order_create(request, pk):
    contact = _visible_contact(request, pk)
    form = OrderForm(request.POST)
    if not form.is_valid():
        return render(request, "crm/contacts/detail.html", _detail_context(request, contact, order_form=form), status=400)
    services.order_create(contact=contact, actor=request.user, **form.cleaned_data)
    messages.success(request, _("Order recorded."))
    return redirect("crm:contact_detail", pk=contact.pk)


@member_required
@require_POST
def order_refund(request, pk, order_pk):
    contact = _visible_contact(request, pk)
    order = get_object_or_404(Order, contact=contact, pk=order_pk)
    if services.order_refund(order=order, actor=request.user):
        messages.success(request, _("Order marked refunded."))
    return redirect("crm:contact_detail", pk=contact.pk)


@member_required
@require_POST
def contact_friend_deleted(request, pk):
    contact = _visible_contact(request, pk)
    if services.contact_friend_deleted(contact=contact, actor=request.user):
        messages.success(request, _("Recorded: %(name)s deleted us.") % {"name": contact.display_name})
    return redirect("crm:contact_detail", pk=contact.pk)


@member_required
@require_POST
def order_delete(request, pk, order_pk):
    contact = _visible_contact(request, pk)
    order = get_object_or_404(Order, contact=contact, pk=order_pk)
    services.order_delete(order=order)
    messages.success(request, _("Order deleted."))
    return redirect("crm:contact_detail", pk=contact.pk)


# Opting out, and the customer's replies ------------------------------------------------------------------------------


def _opt_out_done(request, contact, notice: str, *, reply_form=None, status=200):
    """The opt-out block of the contact page, with what just happened (htmx), or the page itself."""
    if request.htmx:
        context = {"contact": contact, "reply_form": reply_form or ReplyForm(), "notice": notice, "oob": True}
        response = render(request, "crm/contacts/_opt_out.html", context)
        if not reply_form:
            response["HX-Trigger"] = "timeline-changed"
        return response
    if reply_form:
        return render(
            request, "crm/contacts/detail.html", _detail_context(request, contact, reply_form=reply_form), status=status
        )
    messages.success(request, notice)
    return redirect("crm:contact_detail", pk=contact.pk)


@member_required
@require_POST
def contact_opt_out(request, pk):
    """The customer asked for no more messages: no broadcast or follow-up reaches them."""
    contact = _visible_contact(request, pk)
    services.contact_opt_out(contact=contact, actor=request.user)
    contact.refresh_from_db(fields=["opted_out_at"])
    notice = pgettext("opt-out", "No broadcast or follow-up message will reach %(name)s.") % {
        "name": contact.display_name
    }
    return _opt_out_done(request, contact, notice)


@member_required
@require_POST
def contact_opt_in(request, pk):
    contact = _visible_contact(request, pk)
    services.contact_opt_in(contact=contact, actor=request.user)
    contact.refresh_from_db(fields=["opted_out_at"])
    notice = pgettext("opt-out", "%(name)s receives broadcasts and follow-up messages again.") % {
        "name": contact.display_name
    }
    return _opt_out_done(request, contact, notice)


@member_required
@require_POST
def contact_reply(request, pk):
    """A reply the customer sent on WeChat, on the timeline; 退订, TD and the like opt them out."""
    contact = _visible_contact(request, pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            services.contact_reply_record(contact=contact, text=form.cleaned_data["reply"], actor=request.user)
        except ValidationError as error:
            form.add_error("reply", error)
    if form.errors:
        # 200 for htmx, which swaps in no 4xx response by default: the form shows its error in place.
        return _opt_out_done(request, contact, "", reply_form=form, status=200 if request.htmx else 400)
    contact.refresh_from_db(fields=["opted_out_at"])
    if services.is_opt_out_reply(form.cleaned_data["reply"]):
        notice = pgettext(
            "opt-out", "Reply recorded. It asks to unsubscribe: %(name)s is opted out of messages."
        ) % {"name": contact.display_name}
    else:
        notice = pgettext("opt-out", "Reply recorded.")
    return _opt_out_done(request, contact, notice)
