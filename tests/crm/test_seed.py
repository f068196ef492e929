import hashlib
import re
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from crm.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    GroupMembership,
    Order,
    Tag,
    TagGroup,
    TimelineEvent,
    WeChatAccount,
)
from crm.seeding import MAX_AMOUNT, MIN_AMOUNT, seed_workspace
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

SMALL = 200


def digest(workspace) -> str:
    """What a seller sees of the seeded book, ids left out: the same seed must give the same digest."""
    tags: dict[int, list[str]] = {}
    for contact_id, name in ContactTag.objects.filter(content_object__workspace=workspace).values_list(
        "content_object_id", "tag__name"
    ):
        tags.setdefault(contact_id, []).append(name)
    orders: dict[int, list[str]] = {}
    for contact_id, amount, placed_at, channel in Order.objects.filter(workspace=workspace).values_list(
        "contact_id", "amount", "placed_at", "channel"
    ):
        orders.setdefault(contact_id, []).append(f"{amount}|{placed_at.isoformat()}|{channel}")
    lines = []
    for contact in Contact.objects.filter(workspace=workspace).select_related("owner_account").order_by("id"):
        lines.append(
            "|".join(
                [
                    contact.nickname, contact.remark_name, contact.description, contact.wechat_id, contact.phone,
                    str(contact.gender), contact.region, contact.added_at.isoformat(), contact.source,
                    contact.stage, contact.owner_account.name, ",".join(sorted(tags.get(contact.pk, []))),
                    ";".join(sorted(orders.get(contact.pk, []))),
                ]
            )
        )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture
def seeded(workspace):
    return workspace, seed_workspace(workspace=workspace, contacts=SMALL, seed=7)


def test_it_creates_the_contacts_and_reports_every_count(seeded):
    workspace, result = seeded
    assert result.contacts == SMALL == Contact.objects.filter(workspace=workspace).count()
    assert result.contact_tags == ContactTag.objects.filter(content_object__workspace=workspace).count()
    assert result.orders == Order.objects.filter(workspace=workspace).count()
    assert result.group_members == GroupMembership.objects.filter(group__workspace=workspace).count()
    assert result.timeline_events == TimelineEvent.objects.filter(workspace=workspace).count()
    assert 3 <= result.accounts == WeChatAccount.objects.filter(workspace=workspace).count() <= 5
    assert result.tags == Tag.objects.filter(workspace=workspace).count()
    assert 55 <= result.tags <= 65
    assert CustomerGroup.objects.filter(workspace=workspace).count() == result.customer_groups >= 3


def test_the_same_seed_gives_the_same_data():
    first, second = WorkspaceFactory(), WorkspaceFactory()
    seed_workspace(workspace=first, contacts=SMALL, seed=11)
    seed_workspace(workspace=second, contacts=SMALL, seed=11)
    assert digest(first) == digest(second)


def test_a_different_seed_gives_different_data():
    first, second = WorkspaceFactory(), WorkspaceFactory()
    seed_workspace(workspace=first, contacts=SMALL, seed=11)
    seed_workspace(workspace=second, contacts=SMALL, seed=12)
    assert digest(first) != digest(second)


def test_no_contact_holds_two_tags_of_an_exclusive_group(seeded):
    workspace, _ = seeded
    assert TagGroup.objects.filter(workspace=workspace, exclusive=True).exists()
    pairs = ContactTag.objects.filter(content_object__workspace=workspace, tag__group__exclusive=True).values_list(
        "content_object_id", "tag__group_id"
    )
    assert max(Counter(pairs).values()) == 1


def test_it_respects_a_group_the_seller_made_exclusive(workspace):
    TagGroup.objects.create(workspace=workspace, name="兴趣", exclusive=True)
    seed_workspace(workspace=workspace, contacts=SMALL, seed=3)
    interests = ContactTag.objects.filter(content_object__workspace=workspace, tag__group__name="兴趣")
    assert interests.exists()
    assert max(Counter(interests.values_list("content_object_id", flat=True)).values()) == 1


def test_every_seeded_row_belongs_to_the_workspace(seeded):
    workspace, _ = seeded
    other = WorkspaceFactory()
    seed_workspace(workspace=other, contacts=50, seed=8)
    contacts = Contact.objects.filter(workspace=workspace)
    assert not contacts.exclude(owner_account__workspace=workspace).exists()
    assert not ContactTag.objects.filter(content_object__workspace=workspace).exclude(tag__workspace=workspace).exists()
    assert not Tag.objects.filter(workspace=workspace, group__isnull=False).exclude(group__workspace=workspace).exists()
    assert not Order.objects.filter(contact__workspace=workspace).exclude(workspace=workspace).exists()
    assert not GroupMembership.objects.filter(contact__workspace=workspace).exclude(group__workspace=workspace).exists()
    assert not TimelineEvent.objects.filter(contact__workspace=workspace).exclude(workspace=workspace).exists()


def test_seeding_a_second_workspace_leaves_the_first_untouched(seeded):
    workspace, _ = seeded
    before = digest(workspace)
    seed_workspace(workspace=WorkspaceFactory(), contacts=SMALL, seed=7)
    assert digest(workspace) == before
    assert Contact.objects.filter(workspace=workspace).count() == SMALL


def test_contacts_look_like_a_sellers_wechat_friends(seeded):
    workspace, _ = seeded
    contacts = list(Contact.objects.filter(workspace=workspace))
    phones = [c.phone for c in contacts if c.phone]
    assert 0.55 <= len(phones) / len(contacts) <= 0.85
    assert all(re.fullmatch(r"\+861[3-9]\d{9}", phone) for phone in phones)
    assert all(re.fullmatch(r"wxid_[a-z0-9]{14}|[a-z_]+\d+", c.wechat_id) for c in contacts)
    assert sum("姐" in c.remark_name for c in contacts) > len(contacts) / 10
    assert {c.gender for c in contacts} == {0, 1, 2}
    assert len({c.owner_account_id for c in contacts}) >= 3
    assert len({c.added_at.year for c in contacts}) >= 3


def test_tags_average_about_ten_per_contact_with_a_few_popular_ones(seeded):
    workspace, result = seeded
    assert 7 <= result.contact_tags / result.contacts <= 13
    per_tag = Counter(
        ContactTag.objects.filter(content_object__workspace=workspace).values_list("tag_id", flat=True)
    )
    shares = sorted((n / result.contacts for n in per_tag.values()), reverse=True)
    assert 0.25 <= shares[0] <= 0.5
    assert sum(share < 0.05 for share in shares) >= 10


def test_orders_come_after_the_friendship_and_cost_29_to_2000_yuan(seeded):
    workspace, result = seeded
    assert 1.5 <= result.orders / result.contacts <= 2.5
    orders = Order.objects.filter(workspace=workspace)
    assert not orders.filter(placed_at__lt=F("contact__added_at")).exists()
    assert not orders.filter(amount__lt=MIN_AMOUNT).exists()
    assert not orders.filter(amount__gt=MAX_AMOUNT).exists()
    per_contact = Counter(orders.values_list("contact_id", flat=True))
    assert len(per_contact) < result.contacts  # many contacts never ordered


def test_customer_groups_have_members(seeded):
    workspace, _ = seeded
    assert GroupMembership.objects.filter(group__workspace=workspace).exists()


def test_the_command_seeds_a_workspace_and_prints_a_summary(workspace, capsys):
    call_command("crm_seed", workspace=workspace.slug, contacts=30, seed=2, no_progress=True)
    out = capsys.readouterr().out
    assert "30 contacts" in out and " s." in out
    assert Contact.objects.filter(workspace=workspace).count() == 30


def test_the_command_refuses_an_unknown_workspace(db):
    with pytest.raises(CommandError, match="nowhere"):
        call_command("crm_seed", workspace="nowhere", contacts=10)
