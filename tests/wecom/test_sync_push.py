"""Siyu → WeCom: tags and remarks changed in Siyu reach WeCom once, changes that came from WeCom go nowhere."""

import pytest

from crm import services
from crm.models import Contact, Tag
from tests.factories import ContactFactory
from wecom import sync, sync_push

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(corp, credentials, workspace, fake_wecom, django_capture_on_commit_callbacks):
    """A workspace synced once with one WeCom customer, 李姐 (tag VIP), and the calls so far forgotten."""
    customer = corp.add_customer("zhangsan", "wmA", remark="李姐", tags=["etVIP"])
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_workspace(workspace_id=workspace.pk)
    fake_wecom.calls.clear()
    return customer


@pytest.fixture
def contact(synced, workspace):
    return Contact.objects.get(workspace=workspace, external_id="wmA")


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run a change and what it queues after its commit (the push task runs eagerly in tests)."""
    def after_commit(change):
        with django_capture_on_commit_callbacks(execute=True):
            return change()

    return after_commit


def tag(workspace, name):
    return Tag.objects.get(workspace=workspace, name=name)


def test_a_tag_added_in_siyu_reaches_mark_tag_once(contact, workspace, after_commit, fake_wecom, synced):
    after_commit(lambda: services.contacts_tag(workspace=workspace, contact_ids=[contact.pk],
                                               add=[tag(workspace, "A类")], actor=None))
    after_commit(lambda: sync_push.contacts_push(workspace_id=workspace.pk, contact_ids=[contact.pk]))
    calls = fake_wecom.calls_to("externalcontact/mark_tag")
    assert [body for _params, body in calls] == [
        {"userid": "zhangsan", "external_userid": "wmA", "add_tag": ["etA"], "remove_tag": []}]
    assert synced.tags == ["etA", "etVIP"]


def test_a_tag_removed_in_siyu_is_removed_in_wecom(contact, workspace, after_commit, fake_wecom, synced):
    after_commit(lambda: services.contact_tags_set(contact=contact, tags=[], actor=None))
    [(_params, body)] = fake_wecom.calls_to("externalcontact/mark_tag")
    assert (body["add_tag"], body["remove_tag"]) == ([], ["etVIP"])
    assert synced.tags == []


def test_a_remark_changed_in_siyu_is_written_to_wecom(contact, after_commit, fake_wecom, synced):
    long_remark = "李姐-回购三次的VIP客户，喜欢海参和鲍鱼"
    after_commit(lambda: services.contact_remark_update(
        contact=contact, remark_name=long_remark, description="住杭州", actor=None))
    [(_params, body)] = fake_wecom.calls_to("externalcontact/remark")
    assert (body["remark"], body["description"]) == (long_remark[:20], "住杭州")  # WeCom keeps 20 characters
    assert synced.remark == long_remark[:20]


def test_a_long_remark_written_to_wecom_is_kept_whole_in_siyu_by_the_next_sync(
    contact, workspace, after_commit, django_capture_on_commit_callbacks
):
    long_remark = "李姐-回购三次的VIP客户，喜欢海参和鲍鱼"
    after_commit(lambda: services.contact_remark_update(contact=contact, remark_name=long_remark, description="",
                                                        actor=None))
    after_commit(lambda: sync.sync_workspace(workspace_id=workspace.pk))
    contact.refresh_from_db()
    assert contact.remark_name == long_remark


def test_a_tag_siyu_has_and_wecom_lacks_is_created_there_then_marked(contact, workspace, after_commit, fake_wecom,
                                                                     corp, synced):
    new = services.tag_create(workspace=workspace, name="爱海参")
    after_commit(lambda: services.contacts_tag(workspace=workspace, contact_ids=[contact.pk], add=[new],
                                               actor=None))
    [(_params, created)] = fake_wecom.calls_to("externalcontact/add_corp_tag")
    assert created == {"tag": [{"name": "爱海参"}], "group_name": "私域CRM"}
    [new_id] = [tag_id for group in corp.tag_groups.values() for tag_id, name in group["tags"].items()
                if name == "爱海参"]
    assert new_id in synced.tags


def test_changes_that_came_from_wecom_are_not_written_back(synced, workspace, after_commit, fake_wecom):
    synced.remark, synced.tags = "李姐-WeCom里改的", ["etA"]
    after_commit(lambda: sync.sync_workspace(workspace_id=workspace.pk))
    contact = Contact.objects.get(external_id="wmA")
    assert contact.remark_name == "李姐-WeCom里改的"
    assert fake_wecom.calls_to("externalcontact/mark_tag") == []
    assert fake_wecom.calls_to("externalcontact/remark") == []


def test_a_contact_not_in_wecom_is_never_pushed(workspace, credentials, after_commit, fake_wecom, corp):
    other = ContactFactory(workspace=workspace, external_id="")
    vip = services.tag_create(workspace=workspace, name="VIP")
    after_commit(lambda: services.contacts_tag(workspace=workspace, contact_ids=[other.pk], add=[vip], actor=None))
    assert fake_wecom.calls == []


def test_a_workspace_without_wecom_queues_nothing(workspace, after_commit, fake_wecom):
    other = ContactFactory(workspace=workspace, external_id="wmA")
    after_commit(lambda: services.contact_remark_update(contact=other, remark_name="x", description="", actor=None))
    assert fake_wecom.calls == []


def test_a_refused_change_is_logged_and_the_rest_still_written(contact, workspace, after_commit, fake_wecom, synced):
    fake_wecom.fail_next("externalcontact/mark_tag", 84061)
    after_commit(lambda: services.contact_tags_set(contact=contact, tags=[], actor=None))
    assert synced.tags == ["etVIP"]  # WeCom refused: nothing recorded as written
    after_commit(lambda: sync_push.contacts_push(workspace_id=workspace.pk, contact_ids=[contact.pk]))
    assert synced.tags == []  # tried again at the next push


def test_what_the_sync_writes_queues_no_push(contact, workspace, fake_wecom, monkeypatch):
    from wecom import tasks
    from wecom.sync_tags import from_wecom

    queued = []
    monkeypatch.setattr(tasks.push_contacts, "delay", lambda *args: queued.append(args))
    with from_wecom():
        sync_push.contacts_changed_listener(workspace_id=workspace.pk, items=[{"contact_ids": [contact.pk], "tag_id": 1}])
    sync_push.contacts_changed_listener(workspace_id=workspace.pk, items=[{"contact_ids": [contact.pk], "tag_id": 1}])
    assert queued == [(workspace.pk, [contact.pk])]
