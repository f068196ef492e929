"""Broadcast pages: the list, the composer (with a live preview of the message), the send page (who it reaches and
whom each rule leaves out; send, pause, resume, cancel; progress polled while it sends; the deliveries) and the
messaging settings.

Every member may compose and send. A staff member limited to some accounts sends only to their accounts'
customers (drafts.broadcast_audience_clean) and may change only broadcasts that stay within them
(drafts.broadcast_within_reach); they see the deliveries of their own customers only. Another workspace's
broadcast is a 404.
"""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns import drafts, sequence_services, services
from campaigns.forms import (
    BroadcastForm,
    EnrolSegmentForm,
    MessagingSettingsForm,
    SequenceForm,
    SequenceStepFormSet,
    TextPreviewForm,
)
from campaigns.models import Broadcast, BroadcastImage, Delivery, Sequence
from crm.views.access import member_required
from crm.views.contacts import CountedPaginator

PAGE_SIZE = 50
DELIVERIES_PAGE_SIZE = 50
IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


def _broadcast(request, pk) -> Broadcast:
    return get_object_or_404(Broadcast.objects.select_related("workspace"), workspace=request.workspace, pk=pk)


def _changeable(request, pk) -> Broadcast:
    """The broadcast, if this member may change, send, pause or cancel it (403 otherwise)."""
    broadcast = _broadcast(request, pk)
    if not drafts.broadcast_within_reach(member=request.member, broadcast=broadcast):
        raise PermissionDenied
    return broadcast


def _error(request, error: ValidationError) -> None:
    messages.error(request, " ".join(error.messages))


def _progress_summary(progress: dict | None) -> dict | None:
    """Counts for a progress bar: sent, with the staff, skipped, failed, still to go, of the total."""
    if progress is None:
        return None
    by_status = progress["by_status"]
    total = progress["total"]
    summary = {
        "sent": by_status.get(Delivery.Status.SENT, 0),
        "pending": by_status.get(Delivery.Status.PENDING, 0),
        "skipped": by_status.get(Delivery.Status.SKIPPED, 0),
        "failed": by_status.get(Delivery.Status.FAILED, 0),
        "waiting": by_status.get(Delivery.Status.QUEUED, 0) + by_status.get(Delivery.Status.CLAIMED, 0),
        "total": total,
    }
    summary["done"] = total - summary["waiting"]
    summary["percent"] = round(100 * summary["done"] / total) if total else 100
    return summary


# The list ------------------------------------------------------------------------------------------------------------


@member_required
def broadcast_list(request):
    broadcasts = Broadcast.objects.filter(workspace=request.workspace).select_related("created_by")
    page = Paginator(broadcasts, PAGE_SIZE).get_page(request.GET.get("page"))
    progress = drafts.broadcasts_progress(broadcasts=list(page))
    rows = [(broadcast, _progress_summary(progress.get(broadcast.pk))) for broadcast in page]
    return render(request, "campaigns/broadcasts/list.html", {"page": page, "rows": rows})


# Compose -------------------------------------------------------------------------------------------------------------


@member_required
def broadcast_create(request):
    form = BroadcastForm(request.POST or None, request.FILES or None, member=request.member)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            broadcast = drafts.broadcast_create(
                member=request.member, name=data["name"], text=data["text"], link=data["link"],
                audience=data["audience"], scheduled_at=data["scheduled_at"], images=data["images"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Draft “%(name)s” saved. Check who it reaches, then send it.") % {"name": broadcast.name})
            return redirect("campaigns:broadcast_detail", broadcast.pk)
    return _render_form(request, form, broadcast=None)


@member_required
def broadcast_edit(request, pk):
    broadcast = _changeable(request, pk)
    if broadcast.status != Broadcast.Status.DRAFT:
        messages.error(request, _("Only a draft can be edited."))
        return redirect("campaigns:broadcast_detail", broadcast.pk)
    form = BroadcastForm(request.POST or None, request.FILES or None, member=request.member, broadcast=broadcast)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            drafts.broadcast_update(
                broadcast=broadcast, member=request.member, name=data["name"], text=data["text"], link=data["link"],
                audience=data["audience"], scheduled_at=data["scheduled_at"], add_images=data["images"],
                remove_image_ids=data["remove_images"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Draft “%(name)s” saved.") % {"name": broadcast.name})
            return redirect("campaigns:broadcast_detail", broadcast.pk)
    return _render_form(request, form, broadcast=broadcast)


def _render_form(request, form, *, broadcast):
    if form.is_bound:
        text = form.data.get("text", "")
        audience = (getattr(form, "cleaned_data", None) or {}).get("audience") or {}
    elif broadcast:
        text, audience = broadcast.text, broadcast.audience
    else:
        text, audience = "", {}
    context = {
        "form": form,
        "broadcast": broadcast,
        "sample": drafts.broadcast_text_sample(member=request.member, text=text, audience=audience),
        "content_warnings": drafts.workspace_content_warnings(workspace=request.workspace, text=text),
        "images": form.existing_images,
        "max_images": drafts.MAX_IMAGES,
    }
    return render(request, "campaigns/broadcasts/form.html", context, status=400 if form.errors else 200)


@member_required
@require_POST
def broadcast_text_preview(request):
    """The composer's live preview: the message as the first customer of the audience would read it."""
    text, audience = TextPreviewForm(request.POST, member=request.member).sample_input()
    sample = drafts.broadcast_text_sample(member=request.member, text=text, audience=audience)
    warnings = drafts.workspace_content_warnings(workspace=request.workspace, text=text)
    return render(request, "campaigns/broadcasts/_text_preview.html", {"sample": sample, "content_warnings": warnings})


@member_required
def broadcast_image(request, pk, image_pk):
    """A broadcast's image, for the members of its workspace only (media is never served publicly)."""
    image = get_object_or_404(BroadcastImage, broadcast__workspace=request.workspace, broadcast_id=pk, pk=image_pk)
    if not image.image or not image.image.storage.exists(image.image.name):
        raise Http404
    kind = IMAGE_TYPES.get(image.image.name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    response = FileResponse(image.image.open("rb"), content_type=kind)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# The send page -------------------------------------------------------------------------------------------------------


def _status_context(request, broadcast: Broadcast) -> dict:
    progress = services.broadcast_progress(broadcast=broadcast) if broadcast.started_at else None
    skipped = []
    if progress:
        labels = dict(Delivery.SkipReason.choices)
        skipped = sorted(
            ((labels.get(reason, reason or "—"), n) for reason, n in progress["skipped"].items()), key=lambda row: -row[1]
        )
    return {
        "broadcast": broadcast,
        "may_change": drafts.broadcast_within_reach(member=request.member, broadcast=broadcast),
        "progress": _progress_summary(progress),
        "raw_progress": progress,
        "skipped_by_reason": skipped,
        "polling": broadcast.status == Broadcast.Status.SENDING,
        **(_starts_at(broadcast) if broadcast.status == Broadcast.Status.SCHEDULED else {}),
    }


def _starts_at(broadcast: Broadcast) -> dict:
    """When a scheduled broadcast really starts: at its time, or when the quiet hours it falls in end."""
    at = max(broadcast.scheduled_at, timezone.now())
    starts = services.quiet_hours_end(workspace=broadcast.workspace, at=at)
    if starts == at:
        return {"starts_at": broadcast.scheduled_at, "after_quiet_hours": False}
    return {"starts_at": starts, "after_quiet_hours": True}


def _audience_context(request, broadcast: Broadcast) -> dict:
    """For a broadcast not started yet: who it would reach now, whom each rule leaves out, what still keeps it from
    being sent, and when it would really start (the quiet hours)."""
    context: dict = {"problems": [], "preview": None, "excluded": [], "quiet_until": None}
    try:
        services.broadcast_check(broadcast=broadcast)
    except ValidationError as error:
        context["problems"] = error.messages
    try:
        preview = services.broadcast_preview(broadcast=broadcast)
    except ValidationError as error:
        context["problems"] = list(dict.fromkeys([*context["problems"], *error.messages]))
    else:
        labels = dict(Delivery.SkipReason.choices)
        context["preview"] = preview
        context["excluded"] = [
            (reason, labels[reason], preview.excluded.get(reason, 0))
            for reason in (Delivery.SkipReason.OPTED_OUT, Delivery.SkipReason.DAILY_CAP,
                           Delivery.SkipReason.MONTHLY_CAP, Delivery.SkipReason.NO_ACCOUNT)
        ]
    now = timezone.now()
    at = max(broadcast.scheduled_at or now, now)
    starts = services.quiet_hours_end(workspace=broadcast.workspace, at=at)
    if starts != at:
        context["quiet_until"] = starts
    context["rules"] = services.messaging_settings(workspace=broadcast.workspace)
    context["sample"] = drafts.broadcast_text_sample(
        member=request.member, text=broadcast.text, audience=broadcast.audience
    )
    context["plan_passed"] = (
        broadcast.status == Broadcast.Status.DRAFT and broadcast.scheduled_at is not None and broadcast.scheduled_at <= now
    )
    return context


def _deliveries_context(request, broadcast: Broadcast, progress: dict | None) -> dict:
    status = request.GET.get("status", "")
    if status not in Delivery.Status.values:
        status = ""
    deliveries = drafts.broadcast_deliveries(broadcast=broadcast, member=request.member, status=status)
    if progress is not None and request.member.sees_all_accounts:  # the count is known already
        count = progress["by_status"].get(status, 0) if status else progress["total"]
        paginator = CountedPaginator(deliveries, DELIVERIES_PAGE_SIZE, count=count)
    else:
        paginator = Paginator(deliveries, DELIVERIES_PAGE_SIZE)
    return {
        "deliveries": paginator.get_page(request.GET.get("page")),
        "status_filter": status,
        "status_choices": Delivery.Status.choices,
        "query": f"status={status}" if status else "",
    }


@member_required
def broadcast_detail(request, pk):
    broadcast = _broadcast(request, pk)
    context = _status_context(request, broadcast)
    target = request.htmx.target if request.htmx else None
    if target == "broadcast-status":
        return render(request, "campaigns/broadcasts/_status.html", context)
    if broadcast.started_at:
        context.update(_deliveries_context(request, broadcast, context["raw_progress"]))
        if target == "deliveries":
            return render(request, "campaigns/broadcasts/_deliveries.html", context)
    if broadcast.status in (Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED) and context["may_change"]:
        # (Not for a member limited to some accounts looking at a broadcast beyond them: its audience is not theirs
        # to count, as the segment pages count only the contacts a member may see.)
        context.update(_audience_context(request, broadcast))
    context["images"] = list(broadcast.images.all())
    return render(request, "campaigns/broadcasts/detail.html", context)


@member_required
@require_POST
def broadcast_send(request, pk):
    broadcast = _changeable(request, pk)
    try:
        broadcast = drafts.broadcast_send_planned(broadcast=broadcast, member=request.member)
    except ValidationError as error:
        _error(request, error)
    else:
        if broadcast.status == Broadcast.Status.SCHEDULED:
            local = timezone.localtime(_starts_at(broadcast)["starts_at"], ZoneInfo(broadcast.workspace.time_zone))
            messages.success(request, _("Scheduled: it will start at %(time)s.") % {"time": local.strftime("%Y-%m-%d %H:%M")})
        else:
            messages.success(request, _("Sending has started."))
    return redirect("campaigns:broadcast_detail", broadcast.pk)


def _lifecycle_step(request, pk, step, done: str, refused: str):
    """Pause, resume or back to draft: the service says whether the broadcast was in a state that allows it."""
    broadcast = _changeable(request, pk)
    if step(broadcast=broadcast):
        messages.success(request, done)
    else:
        messages.error(request, refused)
    return redirect("campaigns:broadcast_detail", broadcast.pk)


@member_required
@require_POST
def broadcast_pause(request, pk):
    return _lifecycle_step(
        request, pk, services.broadcast_pause,
        _("Paused: the messages already handed over still go out, no more after them."),
        _("Only a broadcast that is sending can be paused."),
    )


@member_required
@require_POST
def broadcast_resume(request, pk):
    return _lifecycle_step(
        request, pk, services.broadcast_resume,
        _("Sending again, from where it stopped."), _("Only a paused broadcast can be resumed."),
    )


@member_required
def broadcast_cancel(request, pk):
    broadcast = _changeable(request, pk)
    if request.method != "POST" and broadcast.status not in (Broadcast.Status.FINISHED, Broadcast.Status.CANCELLED):
        return render(request, "campaigns/broadcasts/cancel.html", {"broadcast": broadcast})
    if request.method == "POST" and services.broadcast_cancel(broadcast=broadcast):
        messages.success(request, _("Cancelled: nobody else receives it."))
    else:
        messages.error(request, _("This broadcast is over already."))
    return redirect("campaigns:broadcast_detail", broadcast.pk)


@member_required
@require_POST
def broadcast_unschedule(request, pk):
    return _lifecycle_step(
        request, pk, services.broadcast_unschedule,
        _("Back to draft. Choose a time again, or it goes out as soon as you press Send."),
        _("Only a scheduled broadcast that has not started can go back to draft."),
    )


# Messaging settings --------------------------------------------------------------------------------------------------


@member_required
def messaging_settings(request):
    """Quiet hours and frequency caps: the owner changes them, staff see them."""
    may_change = request.member.is_owner
    rules = services.messaging_settings(workspace=request.workspace)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        form = MessagingSettingsForm(request.POST, instance=rules)
        if form.is_valid():
            try:
                drafts.messaging_settings_update(workspace=request.workspace, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Messaging settings saved."))
                return redirect("campaigns:messaging_settings")
    else:
        form = MessagingSettingsForm(instance=rules)
    if not may_change:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request, "campaigns/settings.html", {"form": form, "may_change": may_change},
        status=400 if form.errors else 200,
    )


# Follow-up sequences -------------------------------------------------------------------------------------------------
#
# Every member may build, switch on and off a sequence (its triggers work on the whole workspace, like the customer
# book's events). A member limited to some accounts enrols by hand only the segment contacts they may see, and sees
# only their own customers' runs and follow-up tasks.



SEQUENCES_PAGE_SIZE = 50
RUNS_PAGE_SIZE = 50
TASKS_PAGE_SIZE = 50


def _sequence(request, pk) -> Sequence:
    return get_object_or_404(Sequence.objects.select_related("trigger_tag", "trigger_group", "exit_tag"),
                             workspace=request.workspace, pk=pk)


@member_required
def sequence_list(request):
    sequences_qs = (
        Sequence.objects.filter(workspace=request.workspace)
        .select_related("trigger_tag", "trigger_group")
        .annotate(step_count=Count("steps"))
        .order_by("name", "id")
    )
    page = Paginator(sequences_qs, SEQUENCES_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = sequence_services.sequences_counts(workspace=request.workspace, sequence_ids=[s.pk for s in page])
    rows = [(sequence, counts[sequence.pk]) for sequence in page]
    return render(request, "campaigns/sequences/list.html", {"page": page, "rows": rows})


def _step_rows(formset) -> list[dict]:
    return [
        {"id": form.instance.pk, **{name: form.cleaned_data.get(name) for name in sequence_services.STEP_FIELDS}}
        for form in formset.kept_forms()
    ]


def _sequence_form(request, sequence: Sequence | None):
    workspace = request.workspace
    form = SequenceForm(request.POST or None, instance=sequence, workspace=workspace)
    formset = SequenceStepFormSet(
        request.POST or None, instance=sequence or Sequence(workspace=workspace), prefix="steps", workspace=workspace
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            saved = sequence_services.sequence_save(
                workspace=workspace, sequence=sequence, fields=form.cleaned_data, steps=_step_rows(formset)
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Sequence “%(name)s” saved.") % {"name": saved.name})
            return redirect("campaigns:sequence_detail", saved.pk)
    errors = bool(form.errors or any(formset.errors) or formset.non_form_errors())
    return render(
        request, "campaigns/sequences/form.html",
        {"form": form, "formset": formset, "sequence": sequence}, status=400 if errors else 200,
    )


@member_required
def sequence_create(request):
    return _sequence_form(request, None)


@member_required
def sequence_edit(request, pk):
    return _sequence_form(request, _sequence(request, pk))


def _detail_context(request, sequence: Sequence) -> dict:
    steps = list(sequence.steps.select_related("tag"))
    waiting = sequence_services.sequence_waiting_by_step(sequence=sequence)
    runs = Paginator(sequence_services.sequence_runs(sequence=sequence, member=request.member), RUNS_PAGE_SIZE)
    counts = sequence_services.sequences_counts(workspace=request.workspace, sequence_ids=[sequence.pk])[sequence.pk]
    return {
        "sequence": sequence,
        "steps": [(index, step, waiting.get(index, 0)) for index, step in enumerate(steps)],
        "counts": counts,
        "runs": runs.get_page(request.GET.get("page")),
        "enrol_form": EnrolSegmentForm(workspace=request.workspace),
    }


@member_required
def sequence_detail(request, pk):
    sequence = _sequence(request, pk)
    context = _detail_context(request, sequence)
    if request.htmx and request.htmx.target == "step-runs":
        return render(request, "campaigns/sequences/_runs.html", context)
    return render(request, "campaigns/sequences/detail.html", context)


@member_required
@require_POST
def sequence_activate(request, pk):
    sequence = _sequence(request, pk)
    try:
        changed = sequence_services.sequence_activate(sequence=sequence)
    except ValidationError as error:
        _error(request, error)
    else:
        if changed:
            messages.success(request, _("Active: from now on its trigger enrols contacts."))
        else:
            messages.info(request, _("This sequence is active already."))
    return redirect("campaigns:sequence_detail", sequence.pk)


@member_required
@require_POST
def sequence_deactivate(request, pk):
    sequence = _sequence(request, pk)
    left = sequence_services.sequence_deactivate(sequence=sequence)
    messages.success(request, _("Deactivated: nobody new enters, and %(n)s contacts in it left.") % {"n": left})
    return redirect("campaigns:sequence_detail", sequence.pk)


@member_required
@require_POST
def sequence_enrol(request, pk):
    sequence = _sequence(request, pk)
    form = EnrolSegmentForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        messages.error(request, _("Choose one of your saved segments."))
        return redirect("campaigns:sequence_detail", sequence.pk)
    try:
        entered = sequence_services.sequence_enrol_segment(
            sequence=sequence, segment=form.cleaned_data["segment"], member=request.member
        )
    except ValidationError as error:
        _error(request, error)
    else:
        messages.success(
            request,
            _("%(n)s contacts of “%(segment)s” entered the sequence (those already in it, opted out or merged are left out).")
            % {"n": entered, "segment": form.cleaned_data["segment"].name},
        )
    return redirect("campaigns:sequence_detail", sequence.pk)


# Follow-up tasks -----------------------------------------------------------------------------------------------------


@member_required
def task_list(request):
    page = Paginator(sequence_services.tasks_open(member=request.member), TASKS_PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate(timezone=ZoneInfo(request.workspace.time_zone))
    return render(request, "campaigns/tasks/list.html", {"page": page, "today": today})


@member_required
@require_POST
def task_done(request, pk):
    task = get_object_or_404(sequence_services.tasks_visible(member=request.member), pk=pk)
    done = sequence_services.task_done(task=task, member=request.member)
    if request.htmx:
        task.refresh_from_db()
        return render(request, "campaigns/tasks/_done.html", {"task": task, "done_now": done})
    if done:
        messages.success(request, _("Task done."))
    else:
        messages.info(request, _("Someone marked this task done already."))
    return redirect("campaigns:task_list")
