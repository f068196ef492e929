"""The channel QR code pages (联系我): owner and teammates make and list codes for the accounts they see, set each
code's welcome message and the workspace's default one, and give a referral campaign's participants their own."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors as crm_selectors
from crm.views.access import member_required
from wecom import contact_ways, services, tasks, welcome
from wecom.contact_way_forms import ContactWayForm, ContactWayWelcomeForm, DefaultWelcomeForm
from wecom.models import ContactWay

PAGE_SIZE = 50


def _visible_ways(request):
    visible = crm_selectors.accounts_visible_to(member=request.member).values("pk")
    return ContactWay.objects.filter(workspace=request.workspace, accounts__in=visible).distinct()


@member_required
def contact_way_list(request):
    form = ContactWayForm(request.POST or None, request.FILES or None, member=request.member)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            way = contact_ways.contact_way_create(
                workspace=request.workspace, actor=request.user, label=data["label"], accounts=data["accounts"],
                state=data["state"], source=data["source"], welcome_text=data["welcome_text"],
                welcome_image=data["welcome_image"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Channel QR code “%(label)s” made.") % {"label": way.label})
            return redirect("wecom:contact_way_detail", way.pk)
    page = Paginator(
        _visible_ways(request).select_related("participant").prefetch_related("accounts"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = {
        "form": form, "page": page, "connected": services.credentials_for(workspace=request.workspace) is not None,
        "has_wecom_accounts": form.fields["accounts"].queryset.exists(),
        "campaigns": contact_ways.campaigns_with_wecom(workspace=request.workspace)
        if request.member.sees_all_accounts else [],
        "default_form": DefaultWelcomeForm(initial={"text": welcome.default_text(workspace=request.workspace)}),
    }
    return render(request, "wecom/contact_ways.html", context, status=400 if form.errors else 200)


@member_required
def contact_way_detail(request, pk):
    way = get_object_or_404(_visible_ways(request), pk=pk)
    form = ContactWayWelcomeForm(request.POST or None, request.FILES or None,
                                 initial={"welcome_text": way.welcome_text})
    if request.method == "POST" and form.is_valid():
        contact_ways.contact_way_update(way=way, welcome_text=form.cleaned_data["welcome_text"],
                                        welcome_image=form.cleaned_data["welcome_image"],
                                        clear_image=form.cleaned_data["clear_image"])
        messages.success(request, _("Welcome message saved."))
        return redirect("wecom:contact_way_detail", way.pk)
    return render(request, "wecom/contact_way_detail.html", {"way": way, "form": form},
                  status=400 if form.errors else 200)


@member_required
@require_POST
def default_welcome(request):
    form = DefaultWelcomeForm(request.POST)
    if form.is_valid():
        welcome.default_text_set(workspace=request.workspace, text=form.cleaned_data["text"])
        messages.success(request, _("Default welcome message saved."))
    else:
        messages.error(request, " ".join(form.errors.get("text", [])))
    return redirect("wecom:contact_ways")


@member_required
@require_POST
def campaign_contact_ways(request, campaign_pk):
    """A QR code for each participant of the campaign, made in the background (a WeCom call each)."""
    if not request.member.sees_all_accounts:
        raise PermissionDenied
    campaign = get_object_or_404(contact_ways.campaigns_with_wecom(workspace=request.workspace), pk=campaign_pk)
    campaign_id, user_id = campaign.pk, request.user.pk
    transaction.on_commit(lambda: tasks.contact_ways_for_campaign.delay(campaign_id, user_id))
    messages.success(request, _("Making a channel QR code for each participant of “%(name)s”: they appear here "
                                "in a minute.") % {"name": campaign.name})
    return redirect("wecom:contact_ways")
