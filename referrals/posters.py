"""Participants' posters, drawn with Pillow: the campaign's background, the participant's round avatar and
nickname, the campaign's line of text, and a QR code (segno) of the participant's landing page with their code.

Chinese needs a CJK font: REFERRAL_POSTER_FONT, else the first of FONT_CANDIDATES found (Debian's
fonts-wqy-zenhei or fonts-noto-cjk). Without one the poster is drawn with Pillow's own font, whose Chinese shows
as boxes: a warning is logged and the campaign page says so (font_missing()).

Posters are made by Celery (tasks.poster_make, and the beat's tick for a backlog), stored per participant and
kept while the campaign's poster_version is the one they were made from; a changed background or text bumps
the version and they are made again.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from PIL import Image, ImageDraw, ImageFont, ImageOps

from referrals.models import Campaign, Participant

logger = logging.getLogger(__name__)

SIZE = (750, 1334)  # a phone screen's proportions, WeChat's usual poster size
AVATAR = 132
QR_SIZE = 360
BACKGROUND_COLOUR = (196, 43, 43)  # 中国红, when the campaign has no background
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
# Posters a tick makes (20 to 50 ms each: a few seconds of drawing); the rest wait for the next tick, 30 s later.
TICK_BATCH = 200


@lru_cache(maxsize=1)
def font_path() -> str | None:
    configured = getattr(settings, "REFERRAL_POSTER_FONT", "")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    logger.warning("No CJK font found (REFERRAL_POSTER_FONT, %s): posters fall back to Pillow's font, whose "
                   "Chinese shows as boxes. Install fonts-wqy-zenhei.", ", ".join(FONT_CANDIDATES))
    return None


def font_missing() -> bool:
    return font_path() is None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


def landing_url(code: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("referral_landing:landing", args=[code])


# Drawing ---------------------------------------------------------------------------------------------------------


def _background(file) -> Image.Image:
    if file:
        try:
            with file.open("rb") as source, Image.open(source) as picture:
                return ImageOps.fit(picture.convert("RGB"), SIZE, Image.Resampling.LANCZOS)
        except (OSError, ValueError):  # a file gone from storage: the plain background rather than no poster
            logger.warning("Poster background %s could not be read", file.name)
    return Image.new("RGB", SIZE, BACKGROUND_COLOUR)


def _round_avatar(file, name: str) -> Image.Image:
    """The contact's avatar cut round; without one, the first character of their name on a disc."""
    picture = None
    if file:
        try:
            with file.open("rb") as source, Image.open(source) as opened:
                picture = ImageOps.fit(opened.convert("RGB"), (AVATAR, AVATAR), Image.Resampling.LANCZOS)
        except (OSError, ValueError):
            picture = None
    if picture is None:
        picture = Image.new("RGB", (AVATAR, AVATAR), (255, 214, 102))
        draw = ImageDraw.Draw(picture)
        draw.text((AVATAR / 2, AVATAR / 2), (name or "?")[:1], font=_font(64), fill=(120, 40, 0), anchor="mm")
    mask = Image.new("L", (AVATAR, AVATAR), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, AVATAR - 1, AVATAR - 1), fill=255)
    picture.putalpha(mask)
    return picture


def _qr(link: str) -> Image.Image:
    """The QR code at the largest whole number of pixels per module that fits QR_SIZE (whole modules scan
    best), centred on white."""
    code = segno.make(link, error="m", micro=False)
    width, _height = code.symbol_size(scale=1, border=2)
    buffer = BytesIO()
    code.save(buffer, kind="png", scale=max(1, QR_SIZE // width), border=2)
    buffer.seek(0)
    box = Image.new("RGB", (QR_SIZE, QR_SIZE), "white")
    with Image.open(buffer) as image:
        box.paste(image.convert("RGB"), ((QR_SIZE - image.width) // 2, (QR_SIZE - image.height) // 2))
    return box


def _wrapped(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Chinese has no spaces: lines are cut where the next character would overflow."""
    lines, line = [], ""
    for character in text:
        if draw.textlength(line + character, font=font) > width and line:
            lines.append(line)
            line = character.lstrip()
        else:
            line += character
    return [*lines, line] if line else lines


def poster_render(*, background, avatar, nickname: str, text: str, link: str, code: str) -> bytes:
    """The poster as a JPEG."""
    poster = _background(background)
    draw = ImageDraw.Draw(poster)
    outline = {"stroke_width": 3, "stroke_fill": (40, 20, 20)}  # readable on any background
    face = _round_avatar(avatar, nickname)
    poster.paste(face, (56, 64), face)
    draw.text((56 + AVATAR + 28, 64 + AVATAR / 2), nickname[:14], font=_font(44), fill="white", anchor="lm",
              **outline)
    body_font = _font(52)
    for number, line in enumerate(_wrapped(draw, text, body_font, SIZE[0] - 112)[:4]):
        draw.text((56, 280 + number * 72), line, font=body_font, fill="white", **outline)
    card_left, card_top = (SIZE[0] - QR_SIZE) // 2 - 24, SIZE[1] - QR_SIZE - 170
    draw.rounded_rectangle((card_left, card_top, card_left + QR_SIZE + 48, card_top + QR_SIZE + 110), radius=24,
                           fill="white")
    poster.paste(_qr(link), (card_left + 24, card_top + 24))
    draw.text((SIZE[0] / 2, card_top + QR_SIZE + 66), code, font=_font(40), fill=(40, 20, 20), anchor="mm")
    out = BytesIO()
    poster.save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue()


# Making and keeping them ------------------------------------------------------------------------------------------


def poster_is_current(participant: Participant) -> bool:
    return bool(participant.poster) and participant.poster_version == participant.campaign.poster_version


def poster_make(*, participant_id: int) -> bool:
    """The participant's poster for the campaign's current version; False when it is current already (a task
    delivered twice) or the participant is gone."""
    participant = Participant.objects.filter(pk=participant_id).select_related("campaign", "contact").first()
    if participant is None:
        return False
    campaign = participant.campaign
    if poster_is_current(participant):
        Participant.objects.filter(pk=participant_id).update(poster_wanted=False)
        return False
    version = campaign.poster_version
    content = poster_render(
        background=campaign.poster_background, avatar=participant.contact.avatar,
        nickname=participant.contact.nickname or participant.contact.display_name,
        text=campaign.poster_text or campaign.name, link=landing_url(participant.code), code=participant.code,
    )
    old = participant.poster.name if participant.poster else ""
    storage = participant.poster.storage
    name = storage.save(participant.poster.field.generate_filename(participant, f"{participant.code}-v{version}.jpg"),
                        ContentFile(content))
    with transaction.atomic():
        updated = Participant.objects.filter(pk=participant_id, poster_version__lt=version).update(
            poster=name, poster_version=version, poster_wanted=False)
    if not updated:  # another run made it meanwhile: keep theirs
        storage.delete(name)
        return False
    if old and old != name:
        storage.delete(old)
    return True


def posters_outdated(campaign: Campaign) -> int:
    """The campaign's poster changed: every participant's poster is wanted again."""
    return Participant.objects.filter(campaign=campaign, poster_version__lt=campaign.poster_version).update(
        poster_wanted=True)


def posters_make_wanted(*, limit: int = TICK_BATCH) -> int:
    """What the beat runs: a batch of the posters wanted (new participants, changed campaigns)."""
    wanted = Participant.objects.filter(poster_wanted=True, campaign__status__in=(
        Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE, Campaign.Status.PAUSED)).order_by("id")
    return sum(poster_make(participant_id=pk) for pk in list(wanted.values_list("pk", flat=True)[:limit]))
