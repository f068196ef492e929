"""Moments pages: the week calendar of an account, the composer with its live WeChat-like preview, a post's page
(where it went, its numbers, its likes and comments), and the send-today queue's "post now" actions.

Every member may plan posts. A member limited to some accounts sees the calendars of their accounts only, posts
from them only, and may change only a post all of whose accounts are theirs (selectors.post_within_reach).
Another workspace's post is a 404.
"""

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.drafts import workspace_content_warnings
from crm import selectors as crm_selectors
from crm.models import Tag
from crm.views.access import member_required
from moments import publishing, selectors, services
from moments.forms import EngagementForm, MoveForm, PostForm
from moments.models import Engagement, Post, PostImage, Publication
from moments.zips import zip_stream

FOLD_LINES = 6
FOLD_CHARACTERS = 6 * 22  # about six lines of a phone's feed


def _post(request, pk) -> Post:
    posts = selectors.posts_visible_to(member=request.member).select_related("workspace")
    return get_object_or_404(posts, pk=pk)


def _changeable(request, pk) -> Post:
    post = _post(request, pk)
    if not selectors.post_within_reach(member=request.member, post=post):
        raise PermissionDenied
    return post


def _error(request, error: ValidationError) -> None:
    messages.error(request, " ".join(error.messages))


def _calendar_url(account_id, day: date | None) -> str:
    query = {"account": account_id, **({"week": day.isoformat()} if day else {})}
    return reverse("moments:calendar") + "?" + urlencode(query)


def _day_param(value) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


# The calendar --------------------------------------------------------------------------------------------------------


@member_required
def calendar(request):
    accounts = list(crm_selectors.accounts_visible_to(member=request.member).order_by("name", "id"))
    wanted = request.GET.get("account", "")
    account = next((a for a in accounts if str(a.pk) == wanted), accounts[0] if accounts else None)
    today = crm_selectors.workspace_today(workspace=request.workspace)
    start = selectors.week_start(_day_param(request.GET.get("week")) or today)
    context = {"accounts": accounts, "account": account, "start": start, "today": today}
    if account:
        context.update(
            days=selectors.calendar_week(workspace=request.workspace, account=account, start=start),
            drafts=selectors.unscheduled_drafts(workspace=request.workspace, account=account)[:20],
            previous_week=_calendar_url(account.pk, start - timedelta(days=7)),
            next_week=_calendar_url(account.pk, start + timedelta(days=7)),
            this_week=_calendar_url(account.pk, None),
        )
    return render(request, "moments/calendar.html", context)


@member_required
@require_POST
def post_move(request, pk):
    post = _changeable(request, pk)
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the day to move it to."))
    else:
        try:
            services.post_move(post=post, member=request.member, day=form.cleaned_data["day"])
        except ValidationError as error:
            _error(request, error)
        else:
            messages.success(request, _("Moved to %(day)s.") % {"day": form.cleaned_data["day"].isoformat()})
    return redirect(request.POST.get("next") if _is_local(request.POST.get("next")) else "moments:calendar")


def _is_local(url) -> bool:
    return bool(url) and url.startswith("/") and not url.startswith("//")


@member_required
@require_POST
def post_duplicate(request, pk):
    post = _changeable(request, pk)
    copy = services.post_duplicate(post=post, member=request.member)
    messages.success(request, _("A copy was saved as a draft: choose its day and time."))
    return redirect("moments:post_edit", copy.pk)


# Compose -------------------------------------------------------------------------------------------------------------


def _save(request, form: PostForm, post: Post | None) -> Post | None:
    data = form.cleaned_data
    common = {
        "member": request.member, "text": data["text"], "link": data["link"], "visibility": data["visibility"],
        "tag_ids": data["visibility_tags"], "account_ids": data["accounts"], "scheduled_at": data["scheduled_at"],
        "link_cover": data["link_cover"], "schedule": data["schedule"],
    }
    try:
        if post is None:
            return services.post_create(images=data["images"], **common)
        return services.post_update(post=post, add_images=data["images"], remove_image_ids=data["remove_images"],
                                    remove_cover=data["remove_cover"], **common)
    except ValidationError as error:
        form.add_error(None, error)
        return None


def _saved_message(request, post: Post) -> None:
    if post.status == Post.Status.DRAFT:
        messages.success(request, _("Draft saved."))
    elif post.scheduled_at <= timezone.now():
        messages.success(request, _("Publishing now."))
    else:
        local = timezone.localtime(post.scheduled_at, selectors.zone_of(request.workspace))
        messages.success(request, _("Scheduled for %(time)s.") % {"time": local.strftime("%Y-%m-%d %H:%M")})


def _initial_for_new(request) -> dict:
    """A new post from the calendar: its account, and its day at 20:00 (when feeds are busiest)."""
    initial = {}
    if request.GET.get("account", "").isdigit():
        initial["accounts"] = [int(request.GET["account"])]
    day = _day_param(request.GET.get("day"))
    if day:
        initial["scheduled_at"] = datetime.combine(day, time(20, 0)).strftime("%Y-%m-%dT%H:%M")
    return initial


@member_required
def post_create(request):
    form = PostForm(request.POST or None, request.FILES or None, member=request.member,
                    initial=_initial_for_new(request))
    if request.method == "POST" and form.is_valid():
        post = _save(request, form, None)
        if post:
            _saved_message(request, post)
            return redirect("moments:post_detail", post.pk)
    return _render_form(request, form, post=None)


@member_required
def post_edit(request, pk):
    post = _changeable(request, pk)
    if not selectors.post_is_editable(post=post):
        messages.error(request, _("This post has been handed over already: duplicate it to post it again."))
        return redirect("moments:post_detail", post.pk)
    form = PostForm(request.POST or None, request.FILES or None, member=request.member, post=post)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, post)
        if saved:
            _saved_message(request, saved)
            return redirect("moments:post_detail", saved.pk)
    return _render_form(request, form, post=post)


def _render_form(request, form: PostForm, *, post: Post | None):
    if form.is_bound:
        preview = _preview_context(request, form.preview_input(), post=post)
    else:
        preview = _preview_context(request, {
            "text": post.text if post else "", "link": post.link if post else None,
            "account_ids": form.initial.get("accounts") or [],
            "visibility": post.visibility if post else Post.Visibility.EVERYONE,
            "tag_ids": post.visibility_tags if post else [], "removed_images": set(),
        }, post=post)
    context = {"form": form, "post": post, "images": form.existing_images, **preview}
    return render(request, "moments/form.html", context, status=400 if form.errors else 200)


def _preview_context(request, wanted: dict, *, post: Post | None) -> dict:
    """The post as a friend's feed shows it, who sees it (a count), and the content check's warnings."""
    accounts = crm_selectors.accounts_visible_to(member=request.member)
    chosen = sorted(accounts.filter(pk__in=wanted["account_ids"]).values_list("pk", flat=True))
    images = [image for image in (post.images.all() if post else []) if image.pk not in wanted["removed_images"]]
    try:
        audience = selectors.audience_count(workspace=request.workspace, account_ids=chosen,
                                            visibility=wanted["visibility"], tag_ids=wanted["tag_ids"])
    except ValidationError:  # a tag of another workspace, from a tampered form
        audience = None
    return {
        "preview": _preview(text=wanted["text"], link=wanted["link"], post=post, images=images,
                            account=accounts.filter(pk__in=chosen).first() if chosen else accounts.first()),
        "audience": audience,
        "accounts_chosen": len(chosen),
        "content_warnings": workspace_content_warnings(workspace=request.workspace, text=wanted["text"]),
    }


def _preview(*, text: str, link: dict | None, post: Post | None, images, account) -> dict:
    return {
        "account": account, "text": text, "link": link, "post": post,
        "folds": text.count("\n") >= FOLD_LINES or len(text) > FOLD_CHARACTERS,
        "images": images, "grid": _grid(len(images)),
    }


def _grid(count: int) -> str:
    """WeChat's layout: one picture large, four in 2×2, any other number in rows of three."""
    return {0: "", 1: "one", 4: "four"}.get(count, "three")


@member_required
@require_POST
def post_preview(request):
    """The composer's live preview, re-rendered by htmx as the form changes."""
    post = None
    if request.POST.get("post", "").isdigit():
        post = selectors.posts_visible_to(member=request.member).filter(pk=request.POST["post"]).first()
    form = PostForm(request.POST, member=request.member, post=post)
    context = _preview_context(request, form.preview_input(), post=post)
    return render(request, "moments/_compose_preview.html", context)


@member_required
def post_image(request, pk, image_pk, size):
    """A post's picture or its thumbnail, for the members who may see the post (media is never public)."""
    image = get_object_or_404(PostImage, post__in=selectors.posts_visible_to(member=request.member), post_id=pk,
                              pk=image_pk)
    return _file_response(image.thumbnail if size == "thumb" else image.image)


@member_required
def post_cover(request, pk):
    post = _post(request, pk)
    return _file_response(post.link_cover)


def _file_response(file):
    if not file or not file.storage.exists(file.name):
        raise Http404
    kind = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}.get(
        file.name.rsplit(".", 1)[-1].lower(), "application/octet-stream"
    )
    response = FileResponse(file.open("rb"), content_type=kind)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# A post's page -------------------------------------------------------------------------------------------------------


@member_required
def post_detail(request, pk):
    post = _post(request, pk)
    images = list(post.images.all())
    publications = list(post.publications.select_related("account", "done_by").order_by("account__name"))
    today = crm_selectors.workspace_today(workspace=request.workspace)
    day = timezone.localtime(post.scheduled_at, selectors.zone_of(request.workspace)).date() if post.scheduled_at else today
    for publication in publications:
        publication.state = selectors.entry_state(post=post, publication=publication, day=day, today=today)
    context = {
        "post": post,
        "preview": _preview(text=post.text, link=post.link, post=post, images=images,
                            account=publications[0].account if publications else None),
        "publications": publications,
        "tags": Tag.objects.filter(workspace=request.workspace, pk__in=post.visibility_tags or []),
        "may_change": selectors.post_within_reach(member=request.member, post=post),
        "editable": selectors.post_is_editable(post=post),
        "handed_over": any(p.status in selectors.HANDED_OVER for p in publications),
        "stats": selectors.post_stats(post=post),
        "engagements": selectors.post_engagements(post=post, member=request.member)[:200],
        "content_warnings": workspace_content_warnings(workspace=request.workspace, text=post.text),
        "move_form": MoveForm(initial={"day": day}),
    }
    return render(request, "moments/detail.html", context)


@member_required
@require_POST
def post_unschedule(request, pk):
    post = _changeable(request, pk)
    try:
        services.post_unschedule(post=post, member=request.member)
    except ValidationError as error:
        _error(request, error)
    else:
        messages.success(request, _("Back to draft: it is not published until you schedule it again."))
    return redirect("moments:post_detail", post.pk)


@member_required
def post_delete(request, pk):
    post = _changeable(request, pk)
    if request.method != "POST":
        return render(request, "moments/delete.html", {"post": post})
    try:
        services.post_delete(post=post, member=request.member)
    except ValidationError as error:
        _error(request, error)
        return redirect("moments:post_detail", post.pk)
    messages.success(request, _("Post deleted."))
    return redirect("moments:calendar")


@member_required
def engagement_candidates(request, pk):
    """The contacts matching the search box, each with the buttons that record a like or a comment."""
    post = _post(request, pk)
    contacts = selectors.engagement_candidates(member=request.member, q=request.GET.get("q", ""))
    return render(request, "moments/_candidates.html", {"post": post, "contacts": contacts,
                                                        "searched": bool(request.GET.get("q", "").strip())})


@member_required
@require_POST
def engagement_add(request, pk):
    post = _post(request, pk)
    form = EngagementForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Choose a contact, and a like or a comment."))
    data = form.cleaned_data
    try:
        engagement = services.engagement_add(post=post, member=request.member, contact_id=data["contact"],
                                             kind=data["kind"], comment=data["comment"])
    except ValidationError as error:
        _error(request, error)
    else:
        if engagement.kind == Engagement.Kind.LIKE:
            messages.success(request, _("%(name)s liked it.") % {"name": engagement.contact.display_name})
        else:
            messages.success(request, _("%(name)s's comment recorded.") % {"name": engagement.contact.display_name})
    return redirect(reverse("moments:post_detail", args=[post.pk]) + "#engagement")


@member_required
@require_POST
def engagement_remove(request, pk, engagement_pk):
    post = _post(request, pk)
    engagement = get_object_or_404(Engagement, post=post, pk=engagement_pk)
    try:
        services.engagement_remove(engagement=engagement, member=request.member)
    except ValidationError as error:
        _error(request, error)
    else:
        messages.success(request, _("Removed."))
    return redirect(reverse("moments:post_detail", args=[post.pk]) + "#engagement")


# The send-today queue's "post now" cards -----------------------------------------------------------------------------


def _publication(request, pk) -> Publication:
    publication = selectors.publication_for_member(member=request.member, pk=pk)
    if publication is None:
        raise Http404
    return publication


@member_required
def publication_images(request, pk):
    """Every picture of the post in one zip, streamed, to save to the phone at once."""
    publication = _publication(request, pk)
    images = list(publication.post.images.all())
    if not images:
        raise Http404
    files = [(f"{number:02d}-{image.image.name.rsplit('/', 1)[-1]}", image.image)
             for number, image in enumerate(images, start=1)]
    response = StreamingHttpResponse(zip_stream(files), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"moments-{publication.post_id}-images.zip")
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
@require_POST
def publication_mark(request, pk):
    """Posted, or skipped. A card someone else has done already says so instead of failing."""
    publication = _publication(request, pk)
    status = request.POST.get("status")
    if status not in (Publication.Status.PUBLISHED, Publication.Status.SKIPPED):
        return HttpResponseBadRequest(_("A post is either posted or skipped."))
    changed = publishing.publication_mark(publication=publication, status=status, actor=request.user)
    publication = _publication(request, pk)
    if request.htmx:
        return render(request, "moments/queue/_card_done.html", {"publication": publication, "changed": changed})
    if changed:
        messages.success(request, _("Marked posted.") if status == Publication.Status.PUBLISHED else _("Skipped."))
    else:
        messages.warning(request, _("Someone has done this post already."))
    return redirect(reverse("crm:send_today") + "?" + urlencode({"account": publication.account_id}))
