"""Referral pages: campaigns (list, create, edit, pause), participants and their posters, the leaderboard, the
referral tree, held invites, the report and the paid acquisition costs it compares with.

Changing a campaign (create, edit, pause, enrol a segment, acquisition costs) takes a member who sees every
account; a member limited to some accounts sees, enrols and sends posters to their accounts' contacts only, and
decides only their invites. Another workspace's campaign is a 404. The public landing page is referrals/landing.py.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors as crm_selectors
from crm import wechat
from crm.views.access import member_required
from referrals import messaging, posters, selectors, services, tasks
from referrals.forms import AcquisitionCostForm, CampaignForm, EnrolContactForm, EnrolSegmentForm
from referrals.models import AcquisitionCost, Campaign, Reward

PAGE_SIZE = 50


def _campaign(request, pk) -> Campaign:
    return get_object_or_404(Campaign, workspace=request.workspace, pk=pk)


def _require_all_accounts(request) -> None:
    if not request.member.sees_all_accounts:
        raise PermissionDenied


def _participant(request, campaign, participant_pk):
    participants = selectors.participants_visible_to(member=request.member, campaign=campaign)
    return get_object_or_404(participants.select_related("campaign", "contact__owner_account"), pk=participant_pk)


def _page(request, rows):
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _error(request, error: ValidationError) -> None:
    messages.error(request, " ".join(error.messages))


# Campaigns --------------------------------------------------------------------------------------------------------


@member_required
def campaign_list(request):
    campaigns = _page(request, selectors.campaigns_of_workspace(workspace=request.workspace))
    return render(request, "referrals/list.html", {"page": campaigns})


def _save(request, form: CampaignForm, campaign: Campaign | None) -> Campaign | None:
    try:
        if campaign is None:
            return services.campaign_create(member=request.member, **form.service_arguments())
        return services.campaign_update(campaign=campaign, **form.service_arguments())
    except ValidationError as error:
        form.add_error(None, error)
        return None


@member_required
def campaign_create(request):
    _require_all_accounts(request)
    form = CampaignForm(request.POST or None, request.FILES or None, member=request.member)
    if request.method == "POST" and form.is_valid():
        campaign = _save(request, form, None)
        if campaign:
            messages.success(request, _("Campaign saved."))
            return redirect("referrals:campaign_detail", campaign.pk)
    return render(request, "referrals/form.html", {"form": form}, status=400 if form.errors else 200)


@member_required
def campaign_edit(request, pk):
    _require_all_accounts(request)
    campaign = _campaign(request, pk)
    form = CampaignForm(request.POST or None, request.FILES or None, member=request.member, instance=campaign)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, campaign)
        if saved:
            messages.success(request, _("Campaign saved."))
            return redirect("referrals:campaign_detail", saved.pk)
    return render(request, "referrals/form.html", {"form": form, "campaign": campaign},
                  status=400 if form.errors else 200)


@member_required
def campaign_detail(request, pk):
    campaign = _campaign(request, pk)
    context = {
        "campaign": campaign,
        "tiers": campaign.tiers.all(),
        "accounts": campaign.accounts.all(),
        "counts": selectors.campaign_counts(campaign=campaign),
        "scans": selectors.recent_scans(campaign=campaign) if request.member.sees_all_accounts else [],
        "font_missing": posters.font_missing(),
    }
    return render(request, "referrals/detail.html", context)


@member_required
@require_POST
def campaign_pause(request, pk):
    _require_all_accounts(request)
    campaign = _campaign(request, pk)
    if request.POST.get("action") == "resume":
        if services.campaign_resume(campaign=campaign):
            messages.success(request, _("Campaign resumed."))
    elif services.campaign_pause(campaign=campaign):
        messages.success(request, _("Campaign paused: scans are not counted and no friends are attributed."))
    return redirect("referrals:campaign_detail", campaign.pk)


# Participants -----------------------------------------------------------------------------------------------------


@member_required
def participant_list(request, pk):
    campaign = _campaign(request, pk)
    participants = selectors.participants_visible_to(member=request.member, campaign=campaign).order_by(
        "-enrolled_at", "-id")
    query = (request.GET.get("q") or "").strip()
    if query:
        participants = participants.filter(code=query.upper())
    context = {
        "campaign": campaign, "page": _page(request, participants), "q": query,
        "query": urlencode({"q": query}) if query else "",
        "segment_form": EnrolSegmentForm(member=request.member),
        "candidates": _candidates(request),
    }
    return render(request, "referrals/participants.html", context)


def _candidates(request):
    search = (request.GET.get("contact_q") or "").strip()
    if not search:
        return []
    filters = crm_selectors.ContactFilter(q=search)
    return list(crm_selectors.contact_list(member=request.member, filters=filters)[:10])


@member_required
@require_POST
def participant_enrol(request, pk):
    campaign = _campaign(request, pk)
    form = EnrolContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a contact to enrol."))
        return redirect("referrals:participant_list", campaign.pk)
    try:
        participant = services.participant_enrol(campaign=campaign, member=request.member,
                                                 contact_id=form.cleaned_data["contact"])
    except ValidationError as error:
        _error(request, error)
        return redirect("referrals:participant_list", campaign.pk)
    messages.success(request, _("%(name)s enrolled with the code %(code)s.") % {
        "name": participant.contact.display_name, "code": participant.code})
    return redirect("referrals:participant_detail", campaign.pk, participant.pk)


@member_required
@require_POST
def participants_enrol_segment(request, pk):
    _require_all_accounts(request)
    campaign = _campaign(request, pk)
    form = EnrolSegmentForm(request.POST, member=request.member)
    if not form.is_valid():
        messages.error(request, _("Choose a segment of this workspace."))
    elif campaign.status == Campaign.Status.ENDED:
        messages.error(request, _("The campaign has ended."))
    else:
        segment, user_id = form.cleaned_data["segment"], request.user.pk
        transaction.on_commit(lambda: tasks.participants_enrol_segment.delay(campaign.pk, segment.pk, user_id))
        messages.success(request, _("Enrolling the contacts of “%(segment)s” in the background; their posters "
                                    "follow.") % {"segment": segment.name})
    return redirect("referrals:participant_list", campaign.pk)


@member_required
def participant_detail(request, pk, participant_pk):
    campaign = _campaign(request, pk)
    participant = _participant(request, campaign, participant_pk)
    context = {
        "campaign": campaign, "participant": participant,
        "progress": selectors.participant_progress(participant=participant),
        "cap_reached": selectors.reward_cap_reached(participant=participant),
        "invites": selectors.invites_of_participant(participant=participant),
        "rewards": selectors.rewards_of_participant(participant=participant),
        "poster_ready": posters.poster_is_current(participant),
        "landing_url": posters.landing_url(participant.code),
    }
    return render(request, "referrals/participant.html", context)


@member_required
def participant_poster(request, pk, participant_pk):
    """The poster as a download, for members only (the participant gets it through their account's channel)."""
    campaign = _campaign(request, pk)
    participant = _participant(request, campaign, participant_pk)
    if not posters.poster_is_current(participant) or not participant.poster.storage.exists(participant.poster.name):
        tasks.poster_make.delay(participant.pk)
        raise Http404
    response = FileResponse(participant.poster.open("rb"), content_type="image/jpeg", as_attachment=True,
                            filename=f"poster-{participant.code}.jpg")
    response["Cache-Control"] = "private, max-age=300"
    return response


@member_required
@require_POST
def participant_poster_send(request, pk, participant_pk):
    campaign = _campaign(request, pk)
    participant = _participant(request, campaign, participant_pk)
    try:
        result = messaging.poster_send(participant=participant)
    except ValidationError as error:
        _error(request, error)
    except wechat.ChannelUnavailable:
        messages.error(request, _("The account's channel cannot send now: try again later."))
    else:
        if result.outcome == wechat.Outcome.PENDING:
            messages.success(request, _("The poster waits in the send-today queue of %(account)s.") % {
                "account": participant.contact.owner_account.name})
        else:
            messages.success(request, _("Poster sent."))
    return redirect("referrals:participant_detail", campaign.pk, participant.pk)


@member_required
@require_POST
def reward_deliver(request, pk, reward_pk):
    campaign = _campaign(request, pk)
    reward = get_object_or_404(Reward, participant__campaign=campaign, pk=reward_pk)
    participant = _participant(request, campaign, reward.participant_id)  # a 404 outside the member's accounts
    if services.reward_deliver(reward=reward):
        messages.success(request, _("Marked delivered."))
    return redirect("referrals:participant_detail", campaign.pk, participant.pk)


# Leaderboard and tree ---------------------------------------------------------------------------------------------


@member_required
def leaderboard(request, pk):
    campaign = _campaign(request, pk)
    page = _page(request, selectors.leaderboard(member=request.member, campaign=campaign))
    first_tier = campaign.tiers.first()
    return render(request, "referrals/leaderboard.html", {"campaign": campaign, "page": page,
                                                           "offset": page.start_index() - 1,
                                                           "first_tier": first_tier})


@member_required
def tree(request, pk):
    """The referral tree a level at a time: the roots, or (?parent=) the friends one contact brought, paged; the
    page links open a level below without loading the rest of the tree."""
    campaign = _campaign(request, pk)
    parent = None
    if request.GET.get("parent", "").isdigit():
        parent = get_object_or_404(crm_selectors.contacts_visible_to(member=request.member), pk=request.GET["parent"])
    page = _page(request, selectors.tree_children(member=request.member, campaign=campaign, parent=parent))
    context = {"campaign": campaign, "parent": parent, "page": page,
               "nodes": selectors.tree_nodes(campaign=campaign, contacts=page.object_list)}
    if request.htmx:
        return render(request, "referrals/_tree_level.html", context)
    return render(request, "referrals/tree.html", context)


# Held invites ------------------------------------------------------------------------------------------------------


@member_required
def held(request, pk):
    campaign = _campaign(request, pk)
    context = {
        "campaign": campaign,
        "held": selectors.with_reason_texts(selectors.held_invites(member=request.member, campaign=campaign)[:200]),
        "flagged": selectors.with_reason_texts(
            selectors.flagged_invites(member=request.member, campaign=campaign)[:200]),
    }
    return render(request, "referrals/held.html", context)


@member_required
@require_POST
def invite_decide(request, pk, invite_pk):
    campaign = _campaign(request, pk)
    invite = get_object_or_404(selectors.invites_visible_to(member=request.member, campaign=campaign), pk=invite_pk)
    decision = request.POST.get("decision")
    if decision == "approve":
        done = services.invite_approve(invite=invite, actor=request.user)
        text = _("Approved: %(name)s's invite goes on to qualify.")
    elif decision == "refuse":
        done = services.invite_refuse(invite=invite, actor=request.user)
        text = _("Refused: %(name)s's invite does not count.")
    else:
        raise Http404
    if done:
        messages.success(request, text % {"name": invite.invitee.display_name})
    else:
        messages.warning(request, _("This invite was decided already."))
    return redirect("referrals:held", campaign.pk)


# Report and costs -------------------------------------------------------------------------------------------------


@member_required
def report(request, pk):
    _require_all_accounts(request)  # the campaign's totals span every account
    campaign = _campaign(request, pk)
    return render(request, "referrals/report.html",
                  {"campaign": campaign, "report": selectors.campaign_report(campaign=campaign)})


@member_required
def costs(request):
    _require_all_accounts(request)
    form = AcquisitionCostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.acquisition_cost_set(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Cost saved."))
            return redirect("referrals:costs")
    rows = AcquisitionCost.objects.filter(workspace=request.workspace)
    return render(request, "referrals/costs.html", {"form": form, "rows": rows}, status=400 if form.errors else 200)


@member_required
@require_POST
def cost_delete(request, cost_pk):
    _require_all_accounts(request)
    cost = get_object_or_404(AcquisitionCost, workspace=request.workspace, pk=cost_pk)
    services.acquisition_cost_delete(cost=cost)
    messages.success(request, _("Removed."))
    return redirect(reverse("referrals:costs"))

