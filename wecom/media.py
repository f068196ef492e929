"""Pictures uploaded to WeCom (temporary media): a media_id per picture, kept for WeCom's three days.

    media_id = media_id_for(credentials=credentials, name="broadcasts/2026/11/a.jpg")              # mass sends
    media_id = media_id_for(credentials=credentials, name=..., kind=MediaUpload.Kind.MOMENT)       # moments

Mass sends and welcome messages take pictures uploaded with media/upload (type=image); moments want theirs
uploaded with media/upload_attachment (media_type=image, attachment_type=1). Both are multipart/form-data posts,
which the JSON client does not make, so the upload is here, with the client's shared token and its frequency
count. A media_id is reused until shortly before it expires, so a broadcast of 100,000 customers in chunks of
10,000 uploads each picture once.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.utils import timezone

from wecom.client import (
    FREQUENCY_LIMIT_CODE,
    TOKEN_INVALID_CODES,
    WeComClient,
    WeComError,
    WeComUnavailable,
    api_base,
    client_for,
)
from wecom.models import MediaUpload

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # WeCom refuses pictures over 10 MB
MEDIA_LIFETIME = timedelta(days=3)
# Reused while it has an hour left: WeCom takes the picture when the mass send, moment task or welcome message is
# created (not when the sender confirms it), so an hour is plenty for the call that uses it.
REUSE_MARGIN = timedelta(hours=1)
UPLOAD_TIMEOUT_SECONDS = 30

_UPLOADS = {
    MediaUpload.Kind.IMAGE: ("media/upload", {"type": "image"}),
    MediaUpload.Kind.MOMENT: ("media/upload_attachment", {"media_type": "image", "attachment_type": "1"}),
}


class PictureTooLarge(Exception):
    """The picture is over WeCom's limit: it cannot be sent through WeCom."""


TOO_LARGE = "The picture is over WeCom's limit of 10 MB."


def media_id_for(*, credentials, name: str, kind: str = MediaUpload.Kind.IMAGE) -> str:
    """The media_id of the stored picture `name`, uploaded now unless an upload of it is still fresh. Raises
    PictureTooLarge, WeComError (WeCom refused it) or WeComUnavailable (try later)."""
    now = timezone.now()
    fresh = MediaUpload.objects.filter(
        workspace_id=credentials.workspace_id, kind=kind, name=name, expires_at__gt=now + REUSE_MARGIN
    ).values_list("media_id", flat=True).first()
    if fresh:
        return fresh
    with default_storage.open(name, "rb") as file:
        content = file.read(MAX_IMAGE_BYTES + 1)
    if len(content) > MAX_IMAGE_BYTES:
        raise PictureTooLarge(TOO_LARGE)
    path, params = _UPLOADS[kind]
    answer = upload(client_for(credentials), path=path, params=params, filename=PurePosixPath(name).name,
                    content=content)
    MediaUpload.objects.update_or_create(
        workspace_id=credentials.workspace_id, kind=kind, name=name,
        defaults={"media_id": answer["media_id"], "expires_at": now + MEDIA_LIFETIME},
    )
    return answer["media_id"]


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    safe_name = filename.replace('"', "")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="media"; filename="{safe_name}"; filelength={len(content)}\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(client: WeComClient, *, path: str, params: dict, filename: str, content: bytes) -> dict:
    """POST the file as the form field `media`; WeCom's answer when errcode is 0. A rejected token is renewed and
    the upload tried once more; the frequency limit and network errors raise WeComUnavailable (the caller's task
    tries again later, so no backoff loop here)."""
    client._count_call(path)  # the client's per-minute budget covers uploads too
    data, content_type = _multipart(filename, content)
    token = client.access_token()
    for attempt in range(2):
        query = urllib.parse.urlencode({**params, "access_token": token})
        request = urllib.request.Request(f"{api_base()}/cgi-bin/{path}?{query}", data=data, method="POST")
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
                answer = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
            raise WeComUnavailable(f"WeCom {path}: network: {type(error).__name__}") from None
        errcode = int(answer.get("errcode", 0))
        if errcode == 0:
            return answer
        if errcode in TOKEN_INVALID_CODES and attempt == 0:
            token = client._refresh_token(stale=token)
            continue
        if errcode == FREQUENCY_LIMIT_CODE:
            raise WeComUnavailable(f"WeCom {path}: frequency limit (45009).")
        raise WeComError(errcode, str(answer.get("errmsg", "")), path)
    raise WeComUnavailable(f"WeCom {path}: the token was refused twice.")
