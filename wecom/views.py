"""The WeCom settings page (owner only) and the callback endpoint WeCom posts to."""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from crm.views.access import owner_required
from wecom import callbacks, sealing, services, sync
from wecom.forms import CredentialsForm
from wecom.models import WeComCredentials

logger = logging.getLogger(__name__)


def _masked(credentials: WeComCredentials | None) -> dict[str, str]:
    if credentials is None:
        return {}
    return {
        "secret": sealing.masked(credentials.secret),
        "callback_token": sealing.masked(credentials.callback_token),
        "encoding_aes_key": sealing.masked(credentials.encoding_aes_key),
    }


@sensitive_post_parameters("secret", "callback_token", "encoding_aes_key")  # kept out of error reports
@owner_required
def wecom_settings(request):
    credentials = services.credentials_for(workspace=request.workspace)
    initial = {"corp_id": credentials.corp_id, "agent_id": credentials.agent_id} if credentials else {}
    form = CredentialsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.credentials_save(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("WeCom settings saved."))
            return redirect("wecom:settings")
    callback_url = (
        request.build_absolute_uri(reverse("wecom:callback", args=[credentials.callback_key])) if credentials else ""
    )
    return render(
        request, "wecom/settings.html",
        {"form": form, "credentials": credentials, "masked": _masked(credentials), "callback_url": callback_url},
        status=400 if form.errors else 200,
    )


@owner_required
@require_POST
def wecom_settings_check(request):
    credentials = services.credentials_for(workspace=request.workspace)
    if credentials is None:
        raise Http404
    try:
        services.credentials_check(credentials=credentials)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, _("Connected: WeCom accepted the corp ID and the secret."))
    return redirect("wecom:settings")


@csrf_exempt  # WeCom posts here without a CSRF token; the message signature and encryption protect it instead.
@require_http_methods(["GET", "POST"])
def callback(request, key):
    credentials = get_object_or_404(WeComCredentials, callback_key=key)
    signed = callbacks.Signed.from_query(request.GET)
    try:
        if request.method == "GET":
            echo = callbacks.verify_url(credentials, signed, request.GET.get("echostr", ""))
            return HttpResponse(echo, content_type="text/plain")
        if int(request.META.get("CONTENT_LENGTH") or 0) > callbacks.MAX_BODY_BYTES:
            raise callbacks.CallbackRefused("body too large", status=400)  # refused before it is read
        plaintext = callbacks.open_message(credentials, signed, request.body)
        callbacks.event_store(credentials, plaintext)
    except callbacks.CallbackRefused as refusal:
        logger.warning("WeCom callback for workspace %s refused: %s", credentials.workspace_id, refusal)
        return HttpResponse("refused", status=refusal.status, content_type="text/plain")
    return HttpResponse("success", content_type="text/plain")


@owner_required
@require_POST
def wecom_sync_now(request):
    """Queue the full sync; the htmx answer is the sync section, showing it running."""
    if services.credentials_for(workspace=request.workspace) is None:
        raise Http404
    sync.sync_queue(workspace=request.workspace)
    if request.htmx:
        return render(request, "wecom/_sync_status.html", {"sync_rows": sync.sync_rows(workspace=request.workspace),
                                                            "sync_queued": True})
    messages.success(request, _("Sync started: WeCom's customers, tags and groups arrive in a few minutes."))
    return redirect("wecom:settings")
