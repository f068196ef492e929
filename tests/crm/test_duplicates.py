import pytest
from django.core.exceptions import ValidationError

from crm import selectors
from crm.duplicates import (
    contact_merge,
    contact_merge_undo,
    duplicate_groups,
    duplicates_of,
    nicknames_similar,
    normalize_nickname,
)
from crm.models import Contact, ContactMerge, ContactTag, GroupMembership, Order, TimelineEvent
from tests.factories import (
    ContactFactory,
    CustomerGroupFactory,
    GroupMembershipFactory,
    OrderFactory,
    TagFactory,
    TagGroupFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db


def keys(page):
    return [(group.key, sorted(c.pk for c in group.contacts)) for group in page.groups]


# Finding -----------------------------------------------------------------------------------------------------------


def test_it_finds_duplicates_by_phone(owner, workspace):
    a = ContactFactory(workspace=workspace, phone="+8613812345678")
    b = ContactFactory(workspace=workspace, phone="+8613812345678")
    ContactFactory(workspace=workspace, phone="+8613900000000")
    ContactFactory(workspace=workspace, phone="")
    ContactFactory(workspace=workspace, phone="")
    page = duplicate_groups(member=owner, reason="phone")
    assert keys(page) == [("+8613812345678", sorted([a.pk, b.pk]))]
    assert page.groups[0].reason_label


def test_it_finds_duplicates_by_wechat_id(owner, workspace):
    a = ContactFactory(workspace=workspace, wechat_id="wxid_same")
    b = ContactFactory(workspace=workspace, wechat_id="wxid_same")
    c = ContactFactory(workspace=workspace, wechat_id="wxid_same")
    page = duplicate_groups(member=owner, reason="wechat_id")
    assert keys(page) == [("wxid_same", sorted([a.pk, b.pk, c.pk]))]
    assert page.groups[0].size == 3


def test_it_finds_duplicates_by_union_id_but_not_by_an_empty_one(owner, workspace):
    a = ContactFactory(workspace=workspace, union_id="o6_bmasdasdsad6_2sgVt7hMZOPfL")
    b = ContactFactory(workspace=workspace, union_id="o6_bmasdasdsad6_2sgVt7hMZOPfL")
    ContactFactory(workspace=workspace)
    ContactFactory(workspace=workspace)
    assert keys(duplicate_groups(member=owner, reason="union_id")) == [
        ("o6_bmasdasdsad6_2sgVt7hMZOPfL", sorted([a.pk, b.pk]))
    ]


def test_it_finds_duplicates_by_remark_name_and_similar_nickname(owner, workspace):
    a = ContactFactory(workspace=workspace, remark_name="王姐-老客", nickname="Amy 🌸")
    b = ContactFactory(workspace=workspace, remark_name="王姐-老客", nickname="amy")
    ContactFactory(workspace=workspace, remark_name="王姐-老客", nickname="完全不同的人")
    c = ContactFactory(workspace=workspace, remark_name="李哥", nickname="李大哥爱钓鱼")
    d = ContactFactory(workspace=workspace, remark_name="李哥", nickname="李大哥爱钓鱼2")
    ContactFactory(workspace=workspace, remark_name="赵总", nickname="赵一")
    ContactFactory(workspace=workspace, remark_name="赵总", nickname="钱二")
    page = duplicate_groups(member=owner, reason="remark")
    assert sorted(keys(page)) == sorted([("王姐-老客", sorted([a.pk, b.pk])), ("李哥", sorted([c.pk, d.pk]))])


def test_nicknames_compare_without_emoji_spaces_or_case():
    assert normalize_nickname(" Amy🌸 Ｗang ") == "amywang"
    assert nicknames_similar("海风🌊", "海风")
    assert nicknames_similar("Lucy", "lucy!")
    assert not nicknames_similar("🌸", "🌊")
    assert not nicknames_similar("顾客1", "顾客2")
    assert not nicknames_similar("", "")


def test_it_does_not_find_duplicates_across_workspaces(owner, workspace):
    other = WorkspaceFactory()
    ContactFactory(workspace=workspace, phone="+8613812345678", wechat_id="wxid_x", union_id="u1", remark_name="王姐",
                   nickname="Amy")
    ContactFactory(workspace=other, phone="+8613812345678", wechat_id="wxid_x", union_id="u1", remark_name="王姐",
                   nickname="Amy")
    for reason in ("phone", "wechat_id", "union_id", "remark"):
        assert duplicate_groups(member=owner, reason=reason).groups == []


def test_it_leaves_out_merged_duplicates_and_contacts_the_member_may_not_see(teammate, workspace, account):
    elsewhere = WeChatAccountFactory(workspace=workspace, name="别的号")
    ContactFactory(workspace=workspace, owner_account=account, phone="+8613812345678")
    ContactFactory(workspace=workspace, owner_account=elsewhere, phone="+8613812345678")
    survivor = ContactFactory(workspace=workspace, owner_account=account, wechat_id="wxid_m")
    ContactFactory(workspace=workspace, owner_account=account, wechat_id="wxid_m", merged_into=survivor)
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.set([account])
    assert duplicate_groups(member=teammate, reason="phone").groups == []
    assert duplicate_groups(member=teammate, reason="wechat_id").groups == []


def test_it_lists_groups_page_by_page(owner, workspace):
    for n in range(5):
        ContactFactory(workspace=workspace, phone=f"+86138000000{n:02d}")
        ContactFactory(workspace=workspace, phone=f"+86138000000{n:02d}")
    first = duplicate_groups(member=owner, reason="phone", page=1, per_page=2)
    third = duplicate_groups(member=owner, reason="phone", page=3, per_page=2)
    assert [g.key for g in first.groups] == ["+8613800000000", "+8613800000001"]
    assert first.has_next and not first.has_previous
    assert [g.key for g in third.groups] == ["+8613800000004"]
    assert not third.has_next and third.has_previous


def test_a_big_group_lists_only_its_first_contacts(owner, workspace, monkeypatch):
    monkeypatch.setattr("crm.duplicates.CONTACTS_PER_GROUP", 2)
    for _ in range(4):
        ContactFactory(workspace=workspace, wechat_id="wxid_shared")
    group = duplicate_groups(member=owner, reason="wechat_id").groups[0]
    assert len(group.contacts) == 2 and group.size == 4 and group.truncated


def test_duplicates_of_one_contact_are_grouped_by_reason(owner, workspace):
    contact = ContactFactory(workspace=workspace, phone="+8613812345678", remark_name="王姐", nickname="Amy")
    same_phone = ContactFactory(workspace=workspace, phone="+8613812345678")
    same_remark = ContactFactory(workspace=workspace, remark_name="王姐", nickname="amy🌸")
    ContactFactory(workspace=WorkspaceFactory(), phone="+8613812345678")
    groups = {g.reason: [c.pk for c in g.contacts] for g in duplicates_of(member=owner, contact=contact)}
    assert groups == {"phone": [contact.pk, same_phone.pk], "remark": [contact.pk, same_remark.pk]}


# Merging -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def pair(workspace, owner):
    """A survivor and a duplicate with tags, groups, orders, notes and a referral of their own."""
    survivor = ContactFactory(workspace=workspace, remark_name="王姐", phone="", description="", wechat_id="wxid_keep")
    duplicate = ContactFactory(
        workspace=workspace, remark_name="王姐2", phone="+8613812345678", description="爱买海参", wechat_id="wxid_dup",
        union_id="union-1",
    )
    return survivor, duplicate


def snapshot(*contacts):
    """Everything a merge may touch, per contact, to compare before and after an undo."""
    result = {}
    for contact in contacts:
        contact = Contact.objects.get(pk=contact.pk)
        result[contact.pk] = {
            "fields": {f.attname: getattr(contact, f.attname) for f in Contact._meta.concrete_fields
                       if f.attname not in {"updated_at"}},
            "tag_links": sorted(ContactTag.objects.filter(content_object=contact).values_list("pk", flat=True)),
            "groups": sorted(GroupMembership.objects.filter(contact=contact).values_list("pk", flat=True)),
            "orders": sorted(Order.objects.filter(contact=contact).values_list("pk", flat=True)),
            "events": sorted(
                TimelineEvent.objects.filter(contact=contact)
                .exclude(kind__in=[TimelineEvent.Kind.MERGED, TimelineEvent.Kind.MERGE_UNDONE])
                .values_list("pk", flat=True)
            ),
            "referrals": sorted(Contact.objects.filter(referred_by=contact).values_list("pk", flat=True)),
        }
    return result


def test_a_merge_moves_tags_groups_orders_notes_and_referrals_and_hides_the_duplicate(pair, workspace, owner):
    survivor, duplicate = pair
    shared_tag, own_tag = TagFactory(workspace=workspace, name="共有"), TagFactory(workspace=workspace, name="独有")
    tag_contact(survivor, shared_tag)
    tag_contact(duplicate, shared_tag, own_tag)
    shared_group, own_group = CustomerGroupFactory(workspace=workspace), CustomerGroupFactory(workspace=workspace)
    GroupMembershipFactory(group=shared_group, contact=survivor)
    GroupMembershipFactory(group=shared_group, contact=duplicate)
    own_membership = GroupMembershipFactory(group=own_group, contact=duplicate)
    order = OrderFactory(contact=duplicate)
    note = TimelineEvent.objects.create(workspace=workspace, contact=duplicate, kind="note", body="要发顺丰")
    friend = ContactFactory(workspace=workspace, referred_by=duplicate)

    merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)

    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    assert set(survivor.tags.values_list("name", flat=True)) == {"共有", "独有"}
    assert set(GroupMembership.objects.filter(contact=survivor).values_list("group_id", flat=True)) == {
        shared_group.pk, own_group.pk
    }
    assert list(survivor.orders.all()) == [order]
    assert survivor.timeline_events.filter(pk=note.pk).exists()
    assert survivor.timeline_events.filter(kind=TimelineEvent.Kind.MERGED).exists()
    assert list(survivor.referrals.all()) == [friend]
    # Empty fields filled from the duplicate, the survivor's own kept.
    assert (survivor.phone, survivor.description, survivor.union_id) == ("+8613812345678", "爱买海参", "union-1")
    assert (survivor.remark_name, survivor.wechat_id) == ("王姐", "wxid_keep")
    assert duplicate.merged_into == survivor
    assert not selectors.contacts_visible_to(member=owner).filter(pk=duplicate.pk).exists()
    assert merge.moved["orders"] == [order.pk] and merge.moved["group_memberships"] == [own_membership.pk]
    assert merge.moved["referrals"] == [friend.pk]
    assert set(merge.moved["fields"]) == {"phone", "description", "union_id"}


def test_an_exclusive_tag_group_conflict_keeps_the_survivors_tag(pair, workspace, owner):
    survivor, duplicate = pair
    level = TagGroupFactory(workspace=workspace, name="客户等级", exclusive=True)
    a = TagFactory(workspace=workspace, name="A类", group=level)
    b = TagFactory(workspace=workspace, name="B类", group=level)
    tag_contact(survivor, a)
    tag_contact(duplicate, b)
    contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    assert list(survivor.tags.values_list("name", flat=True)) == ["A类"]


def test_undo_restores_exactly(pair, workspace, owner):
    survivor, duplicate = pair
    shared_tag, own_tag = TagFactory(workspace=workspace), TagFactory(workspace=workspace)
    tag_contact(survivor, shared_tag)
    tag_contact(duplicate, shared_tag, own_tag)
    GroupMembershipFactory(group=CustomerGroupFactory(workspace=workspace), contact=duplicate)
    OrderFactory(contact=duplicate)
    OrderFactory(contact=survivor)
    TimelineEvent.objects.create(workspace=workspace, contact=duplicate, kind="note", body="备注")
    ContactFactory(workspace=workspace, referred_by=duplicate)
    survivor.referred_by = duplicate
    survivor.save()
    before = snapshot(survivor, duplicate)

    merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    assert snapshot(survivor, duplicate) != before
    contact_merge_undo(merge=merge, actor=owner.user)

    assert snapshot(survivor, duplicate) == before
    merge.refresh_from_db()
    assert merge.undone_at is not None
    assert survivor.timeline_events.filter(kind=TimelineEvent.Kind.MERGE_UNDONE).exists()
    assert duplicate.timeline_events.filter(kind=TimelineEvent.Kind.MERGE_UNDONE).exists()
    assert selectors.contacts_visible_to(member=owner).filter(pk=duplicate.pk).exists()


def test_undo_leaves_what_the_seller_changed_since_and_rows_added_since(pair, workspace, owner):
    survivor, duplicate = pair
    merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    survivor.refresh_from_db()
    survivor.phone = "+8613900000000"
    survivor.save()
    later = OrderFactory(contact=survivor)
    contact_merge_undo(merge=merge, actor=owner.user)
    survivor.refresh_from_db()
    assert survivor.phone == "+8613900000000"  # changed by hand after the merge: kept
    assert survivor.description == ""  # filled by the merge and untouched: emptied again
    assert list(survivor.orders.all()) == [later]


def test_undoing_twice_is_refused(pair, owner):
    survivor, duplicate = pair
    merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    contact_merge_undo(merge=merge, actor=owner.user)
    with pytest.raises(ValidationError, match="undone already"):
        contact_merge_undo(merge=merge, actor=owner.user)


def test_undo_waits_for_a_later_merge_of_the_survivor(pair, workspace, owner):
    survivor, duplicate = pair
    first = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    third = ContactFactory(workspace=workspace)
    second = contact_merge(survivor=third, duplicate=survivor, actor=owner.user)
    with pytest.raises(ValidationError, match="undo that merge first"):
        contact_merge_undo(merge=first, actor=owner.user)
    contact_merge_undo(merge=second, actor=owner.user)
    contact_merge_undo(merge=first, actor=owner.user)
    assert Contact.objects.filter(pk__in=[survivor.pk, duplicate.pk, third.pk], merged_into__isnull=True).count() == 3


def test_a_merge_across_workspaces_is_refused(workspace, owner):
    survivor = ContactFactory(workspace=workspace)
    stranger = ContactFactory(workspace=WorkspaceFactory())
    with pytest.raises(ValidationError, match="different workspaces"):
        contact_merge(survivor=survivor, duplicate=stranger, actor=owner.user)
    assert not ContactMerge.objects.exists()
    stranger.refresh_from_db()
    assert stranger.merged_into is None


def test_a_contact_cannot_be_merged_into_itself_or_twice(pair, owner):
    survivor, duplicate = pair
    with pytest.raises(ValidationError, match="itself"):
        contact_merge(survivor=survivor, duplicate=survivor, actor=owner.user)
    contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    with pytest.raises(ValidationError, match="merged into another contact already"):
        contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    with pytest.raises(ValidationError, match="merged into another contact already"):
        contact_merge(survivor=duplicate, duplicate=survivor, actor=owner.user)


def test_merge_and_undo_forget_the_cached_counts(pair, owner, django_capture_on_commit_callbacks):
    survivor, duplicate = pair
    version = selectors.book_version(workspace_id=survivor.workspace_id)
    with django_capture_on_commit_callbacks(execute=True):
        merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    after_merge = selectors.book_version(workspace_id=survivor.workspace_id)
    assert after_merge != version
    with django_capture_on_commit_callbacks(execute=True):
        contact_merge_undo(merge=merge, actor=owner.user)
    assert selectors.book_version(workspace_id=survivor.workspace_id) != after_merge


def test_the_merge_entry_on_the_timeline_carries_the_merge_until_undone(pair, owner):
    survivor, duplicate = pair
    merge = contact_merge(survivor=survivor, duplicate=duplicate, actor=owner.user)
    entries = [e for e in selectors.contact_timeline(contact=survivor) if e.kind == TimelineEvent.Kind.MERGED]
    assert [e.merge_id for e in entries] == [merge.pk]
    contact_merge_undo(merge=merge, actor=owner.user)
    entries = [e for e in selectors.contact_timeline(contact=survivor) if e.kind == TimelineEvent.Kind.MERGED]
    assert [e.merge_id for e in entries] == [None]
