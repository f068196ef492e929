"""The workspace's WeChat accounts: friends against capacity and delivery channel for every member, create and
edit for owners."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm import selectors, services
from crm.forms import CHANNEL_LABELS, WeChatAccountForm
from crm.models import WeChatAccount
from crm.views.access import member_required, owner_required


@member_required
def account_list(request):
    accounts = selectors.accounts_with_friend_counts(member=request.member)
    for account in accounts:
        account.channel_label = CHANNEL_LABELS.get(account.channel, account.channel)
    return render(request, "crm/accounts/list.html", {"accounts": accounts})


@owner_required
def account_create(request):
    form = WeChatAccountForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.wechat_account_create(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("WeChat account “%(name)s” added.") % {"name": account.name})
            return redirect("crm:account_list")
    return render(request, "crm/accounts/form.html", {"form": form}, status=400 if form.errors else 200)


@owner_required
def account_edit(request, pk):
    account = get_object_or_404(WeChatAccount, workspace=request.workspace, pk=pk)
    title = account.name  # the form writes its input onto the instance while validating
    form = WeChatAccountForm(request.POST or None, instance=account, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            services.wechat_account_update(account=account, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, _("WeChat account “%(name)s” saved.") % {"name": account.name})
            return redirect("crm:account_list")
    context = {"form": form, "account": account, "title": title}
    return render(request, "crm/accounts/form.html", context, status=400 if form.errors else 200)
