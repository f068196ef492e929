"""The settings page's writes: a workspace's WeCom credentials, sealed before they are stored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Workspace
from wecom import sealing
from wecom.client import WeComError, WeComUnavailable, client_for
from wecom.models import WeComCredentials


def credentials_for(*, workspace: Workspace) -> WeComCredentials | None:
    return WeComCredentials.objects.filter(workspace=workspace).first()


def credentials_save(
    *, workspace: Workspace, corp_id: str, agent_id: str = "", secret: str = "", callback_token: str = "",
    encoding_aes_key: str = "",
) -> WeComCredentials:
    """Store the credentials; a secret left empty keeps the one stored (the page never shows it back)."""
    credentials = credentials_for(workspace=workspace) or WeComCredentials(workspace=workspace)
    credentials.corp_id, credentials.agent_id = corp_id, agent_id
    for field, value in (
        ("sealed_secret", secret), ("sealed_callback_token", callback_token),
        ("sealed_encoding_aes_key", encoding_aes_key),
    ):
        if value:
            setattr(credentials, field, sealing.seal(value))
        elif not getattr(credentials, field):
            raise ValidationError(_("Enter the app secret, the callback token and the EncodingAESKey."))
    credentials.save()
    return credentials


def credentials_check(*, credentials: WeComCredentials) -> None:
    """Fetch an access token with the stored credentials; ValidationError with WeCom's answer when it fails."""
    try:
        client_for(credentials).check()
    except WeComError as error:
        raise ValidationError(
            _("WeCom refused the corp ID or the secret: error %(code)s (%(message)s)."),
            params={"code": error.errcode, "message": error.errmsg},
        ) from None
    except WeComUnavailable:
        raise ValidationError(_("WeCom could not be reached. Try again in a minute.")) from None
