"""Moments fixtures: a workspace with an account posting by hand and one on the outbox channel, tagged customers
on each, and a helper that makes posts."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from crm.models import Member, WeChatAccount
from moments.models import Post, Publication
from tests.factories import ContactFactory, MemberFactory, TagFactory, WeChatAccountFactory, tag_contact

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


def image_upload(size=(800, 600), fmt="JPEG", name=None, **save_options) -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", size, "red").save(buffer, format=fmt, **save_options)
    return SimpleUploadedFile(name or f"photo.{fmt.lower()}", buffer.getvalue(), content_type=f"image/{fmt.lower()}")


@pytest.fixture
def manual_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="手动号", channel=WeChatAccount.Channel.MANUAL)


@pytest.fixture
def outbox_account(workspace):
    return WeChatAccountFactory(workspace=workspace, name="测试号", channel=WeChatAccount.Channel.OUTBOX)


@pytest.fixture
def vip_tag(workspace):
    return TagFactory(workspace=workspace, name="VIP")


@pytest.fixture
def customers(workspace, manual_account, outbox_account, vip_tag):
    """Three customers on each account; the first of each tagged VIP."""
    made = {}
    for account in (manual_account, outbox_account):
        contacts = [ContactFactory(workspace=workspace, owner_account=account) for _ in range(3)]
        tag_contact(contacts[0], vip_tag)
        made[account.pk] = contacts
    return made


@pytest.fixture
def limited_staff(workspace, manual_account):
    """A teammate who sees only the manual account's customers."""
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(manual_account)
    return member


def make_post(workspace, accounts, *, text="今天到货的野生海参", at=None, status=Post.Status.SCHEDULED,
              visibility=Post.Visibility.EVERYONE, tags=(), **fields) -> Post:
    post = Post.objects.create(
        workspace=workspace, text=text, status=status, visibility=visibility,
        visibility_tags=[tag.pk for tag in tags], scheduled_at=at or timezone.now() + timedelta(hours=2), **fields,
    )
    for account in accounts:
        Publication.objects.create(workspace=workspace, post=post, account=account)
    return post
