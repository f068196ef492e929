import pytest
from django.urls import reverse

from crm import services, tasks
from crm.models import ContactTag, Member, TimelineEvent
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, TagFactory, TagGroupFactory, WeChatAccountFactory, tag_contact

pytestmark = pytest.mark.django_db


def tag_names(contact):
    return sorted(contact.tags.names())


def test_a_selection_is_tagged_from_the_list(teammate_client, workspace):
    picked = ContactFactory.create_batch(2, workspace=workspace)
    left_alone = ContactFactory(workspace=workspace)
    response = teammate_client.post(
        reverse("crm:contact_bulk_tag"),
        {"action": "add", "tags": "双11活动", "contacts": [c.pk for c in picked], "query": ""},
    )
    assert response.status_code == 302
    assert [tag_names(c) for c in picked] == [["双11活动"], ["双11活动"]]
    assert tag_names(left_alone) == []


def test_a_selection_is_untagged_from_the_list(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="沉睡")
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, tag)
    owner_client.post(reverse("crm:contact_bulk_tag"), {"action": "remove", "tags": "沉睡", "contacts": [contact.pk]})
    assert tag_names(contact) == []
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.TAG_REMOVED, body="沉睡").exists()


def test_everything_matching_the_filter_is_tagged_not_just_the_page(
    owner_client, workspace, django_capture_on_commit_callbacks
):
    sea = TagFactory(workspace=workspace, name="海参")
    fans = ContactFactory.create_batch(55, workspace=workspace)
    for contact in fans:
        tag_contact(contact, sea)
    outside = ContactFactory(workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            reverse("crm:contact_bulk_tag"),
            {"action": "add", "tags": "海参粉", "everything": "1", "query": f"tags_all={sea.pk}"},
        )
    assert ContactTag.objects.filter(tag__name="海参粉").count() == 55
    assert tag_names(outside) == []


def test_another_workspaces_contact_ids_in_a_bulk_action_are_ignored(outsider_client, workspace):
    victim = ContactFactory(workspace=workspace)
    outsider_client.post(reverse("crm:contact_bulk_tag"), {"action": "add", "tags": "黑", "contacts": [victim.pk]})
    assert tag_names(victim) == []


def test_a_limited_staff_member_cannot_bulk_tag_other_accounts_contacts(workspace, django_capture_on_commit_callbacks):
    mine, theirs = WeChatAccountFactory(workspace=workspace), WeChatAccountFactory(workspace=workspace)
    limited = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    limited.assigned_accounts.add(mine)
    own = ContactFactory(workspace=workspace, owner_account=mine)
    other = ContactFactory(workspace=workspace, owner_account=theirs)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(limited).post(
            reverse("crm:contact_bulk_tag"), {"action": "add", "tags": "跟进", "everything": "1", "query": ""}
        )
    assert tag_names(own) == ["跟进"] and tag_names(other) == []


def test_a_bulk_action_without_a_selection_says_what_is_missing(owner_client, workspace):
    response = owner_client.post(reverse("crm:contact_bulk_tag"), {"action": "add", "tags": "x"}, follow=True)
    assert "Select some contacts" in response.content.decode() or "选择" in response.content.decode()
    assert not ContactTag.objects.exists()


def test_adding_a_tag_of_an_exclusive_group_replaces_the_groups_other_tag(workspace, owner):
    level = TagGroupFactory(workspace=workspace, name="客户等级", exclusive=True)
    a, b = TagFactory(workspace=workspace, name="A", group=level), TagFactory(workspace=workspace, name="B", group=level)
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, a)
    change = services.contacts_tag(workspace=workspace, contact_ids=[contact.pk], add=[b], actor=owner.user)
    assert tag_names(contact) == ["B"]
    assert (change.added, change.removed) == (1, 1)


def test_tagging_twice_adds_nothing_the_second_time(workspace, owner):
    tag = TagFactory(workspace=workspace, name="老客")
    contacts = ContactFactory.create_batch(3, workspace=workspace)
    ids = [c.pk for c in contacts]
    services.contacts_tag(workspace=workspace, contact_ids=ids, add=[tag], actor=owner.user)
    again = services.contacts_tag(workspace=workspace, contact_ids=ids, add=[tag], actor=owner.user)
    assert again.added == 0
    assert ContactTag.objects.filter(tag=tag).count() == 3
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TAG_ADDED).count() == 3


def test_a_redelivered_bulk_tag_task_tags_each_contact_once(workspace, owner):
    sea = TagFactory(workspace=workspace, name="海参")
    new = TagFactory(workspace=workspace, name="回购提醒")
    contacts = ContactFactory.create_batch(4, workspace=workspace)
    for contact in contacts:
        tag_contact(contact, sea)
    for _delivery in range(2):
        tasks.contacts_bulk_tag(member_id=owner.pk, query=f"tags_all={sea.pk}", add_tag_ids=[new.pk], remove_tag_ids=[])
    assert ContactTag.objects.filter(tag=new).count() == 4
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TAG_ADDED, body="回购提醒").count() == 4


def test_the_bulk_task_of_a_removed_member_does_nothing(workspace, owner):
    tag = TagFactory(workspace=workspace)
    ContactFactory(workspace=workspace)
    member_id = owner.pk
    owner.delete()
    tasks.contacts_bulk_tag(member_id=member_id, query="", add_tag_ids=[tag.pk], remove_tag_ids=[])
    assert not ContactTag.objects.exists()


def test_a_tag_of_another_workspace_is_refused_by_the_service(workspace, owner, outsider):
    foreign = TagFactory(workspace=outsider.workspace)
    contact = ContactFactory(workspace=workspace)
    with pytest.raises(Exception):
        services.contacts_tag(workspace=workspace, contact_ids=[contact.pk], add=[foreign], actor=owner.user)
    assert not ContactTag.objects.exists()


def test_bulk_tagging_works_in_batches_across_thousands_of_contacts(workspace, owner, monkeypatch):
    monkeypatch.setattr(services, "BULK_BATCH_SIZE", 7)
    tag = TagFactory(workspace=workspace)
    contacts = ContactFactory.create_batch(30, workspace=workspace, owner_account=None)
    services.contacts_tag(workspace=workspace, contact_ids=(c.pk for c in contacts), add=[tag], actor=owner.user)
    assert ContactTag.objects.filter(tag=tag).count() == 30
