"""The sync from WeCom: staff, customers, corp tags and group chats arrive once, changes follow, vanished records
are marked, and a run cut off continues where it stopped."""

import pytest

from crm.models import Contact, ContactTag, CustomerGroup, Tag, TagGroup, TimelineEvent, WeChatAccount
from tests.factories import ContactFactory, WeChatAccountFactory
from wecom import sync
from wecom.models import CallbackEvent
from wecom.sync_models import SyncState, WeComContact

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(credentials, workspace):
    def run():
        return {state.kind: state for state in sync.sync_workspace(workspace_id=workspace.pk)}

    return run


def tags_of(contact):
    return sorted(ContactTag.objects.filter(content_object=contact).values_list("tag__name", flat=True))


def snapshot(workspace):
    """What a seller could notice: every contact, tag, group and timeline row, and when each contact changed."""
    return (
        list(Contact.objects.filter(workspace=workspace).order_by("pk").values_list(
            "pk", "remark_name", "description", "stage", "owner_account", "updated_at")),
        list(ContactTag.objects.order_by("pk").values_list("pk", flat=True)),
        list(Tag.objects.filter(workspace=workspace).order_by("pk").values_list("pk", "name", "group")),
        list(CustomerGroup.objects.filter(workspace=workspace).order_by("pk").values_list("pk", "name", "notes")),
        TimelineEvent.objects.filter(workspace=workspace).count(),
        WeChatAccount.objects.filter(workspace=workspace).count(),
    )


def test_staff_become_wecom_accounts_named_as_in_wecom(corp, run, workspace):
    corp.staff = {"zhangsan": "张三", "lisi": "李四"}
    run()
    accounts = WeChatAccount.objects.filter(workspace=workspace).order_by("wechat_id")
    assert [(a.wechat_id, a.name, a.channel) for a in accounts] == [
        ("lisi", "李四", WeChatAccount.Channel.WECOM), ("zhangsan", "张三", WeChatAccount.Channel.WECOM)]


def test_an_account_with_the_staff_members_userid_is_theirs(corp, run, workspace):
    mine = WeChatAccountFactory(workspace=workspace, name="小张", wechat_id="zhangsan")
    corp.add_customer("zhangsan", "wmA")
    run()
    assert WeChatAccount.objects.filter(workspace=workspace).count() == 1
    assert Contact.objects.get(external_id="wmA").owner_account == mine


def test_customers_arrive_with_remark_description_tags_and_add_time(corp, run, workspace):
    corp.add_customer("zhangsan", "wmA", name="李姐", remark="李姐-海参", description="爱买海参", tags=["etVIP"],
                      createtime=1700000000, state="src:ads")
    run()
    contact = Contact.objects.get(workspace=workspace, external_id="wmA")
    assert (contact.nickname, contact.remark_name, contact.description, contact.source) == (
        "李姐", "李姐-海参", "爱买海参", Contact.Source.ADS)
    assert contact.added_at.timestamp() == 1700000000
    assert contact.owner_account.wechat_id == "zhangsan"
    assert tags_of(contact) == ["VIP"]


def test_corp_tags_become_tag_groups_and_tags(corp, run, workspace):
    run()
    group = TagGroup.objects.get(workspace=workspace, name="客户等级")
    assert sorted(group.tags.values_list("name", flat=True)) == ["A类", "VIP"]


def test_a_siyu_tag_of_the_same_name_is_matched_not_duplicated(corp, run, workspace):
    Tag.objects.create(workspace=workspace, name="VIP", slug="vip")
    run()
    assert Tag.objects.filter(workspace=workspace, name="VIP").count() == 1
    assert Tag.objects.get(workspace=workspace, name="VIP").group.name == "客户等级"


def test_a_second_sync_changes_nothing(corp, run, workspace):
    corp.staff = {"zhangsan": "张三", "lisi": "李四"}
    corp.add_customer("zhangsan", "wmA", remark="老客", tags=["etVIP", "etA"])
    corp.add_customer("lisi", "wmA", remark="李四的老客")
    corp.add_customer("lisi", "wmB")
    corp.add_chat("wrCHAT1", name="海参团", customers=["wmA", "wmB"])
    run()
    before = snapshot(workspace)
    states = run()
    assert snapshot(workspace) == before
    assert states[SyncState.Kind.CONTACTS].counts["created"] == 0
    assert states[SyncState.Kind.CONTACTS].counts["updated"] == 0


def test_a_customer_of_two_staff_members_is_a_contact_of_each_account(corp, run, workspace):
    corp.staff = {"zhangsan": "张三", "lisi": "李四"}
    corp.add_customer("zhangsan", "wmA", remark="张三叫她李姐")
    corp.add_customer("lisi", "wmA", remark="李四叫她王姐")
    run()
    remarks = dict(Contact.objects.filter(external_id="wmA").values_list("owner_account__wechat_id", "remark_name"))
    assert remarks == {"zhangsan": "张三叫她李姐", "lisi": "李四叫她王姐"}


def test_a_contact_made_by_the_add_event_is_completed_not_duplicated(corp, run, workspace):
    seller = WeChatAccountFactory(workspace=workspace, wechat_id="zhangsan", channel=WeChatAccount.Channel.WECOM)
    known = ContactFactory(workspace=workspace, owner_account=seller, external_id="wmA", remark_name="", nickname="")
    corp.add_customer("zhangsan", "wmA", name="李姐", remark="李姐-海参", tags=["etA"])
    run()
    assert Contact.objects.filter(external_id="wmA").count() == 1
    known.refresh_from_db()
    assert (known.nickname, known.remark_name, tags_of(known)) == ("李姐", "李姐-海参", ["A类"])


def test_a_remark_and_tags_changed_in_wecom_are_updated(corp, run, workspace):
    customer = corp.add_customer("zhangsan", "wmA", remark="李姐", tags=["etVIP"])
    run()
    customer.remark, customer.tags = "李姐-VIP客户", ["etA"]
    run()
    contact = Contact.objects.get(external_id="wmA")
    assert (contact.remark_name, tags_of(contact)) == ("李姐-VIP客户", ["A类"])
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.REMARK_CHANGED).count() == 1


def test_a_remark_changed_only_in_siyu_is_not_overwritten_by_the_sync(corp, run, workspace):
    corp.add_customer("zhangsan", "wmA", remark="李姐")
    run()
    Contact.objects.filter(external_id="wmA").update(remark_name="李姐-Siyu里改的")
    run()
    assert Contact.objects.get(external_id="wmA").remark_name == "李姐-Siyu里改的"


def test_a_customer_gone_from_wecom_is_lost_with_a_note_once(corp, run, workspace):
    corp.add_customer("zhangsan", "wmA")
    corp.add_customer("zhangsan", "wmGONE")
    run()
    del corp.customers[("zhangsan", "wmGONE")]
    states = run()
    run()
    gone = Contact.objects.get(external_id="wmGONE")
    assert gone.stage == Contact.Stage.LOST
    [note] = gone.timeline_events.filter(kind=TimelineEvent.Kind.NOTE)
    assert "zhangsan" in note.body and "企业微信" in note.body
    assert Contact.objects.get(external_id="wmA").stage == Contact.Stage.NEW
    assert states[SyncState.Kind.CONTACTS].counts["vanished"] == 1


def test_a_lost_customer_back_in_wecom_is_new_again(corp, run, workspace):
    customer = corp.add_customer("zhangsan", "wmBACK")
    run()
    del corp.customers[("zhangsan", "wmBACK")]
    run()
    corp.customers[("zhangsan", "wmBACK")] = customer
    run()
    assert Contact.objects.get(external_id="wmBACK").stage == Contact.Stage.NEW


def test_customers_are_read_a_hundred_at_a_time_with_the_cursor(corp, run, fake_wecom):
    for n in range(230):
        corp.add_customer("zhangsan", f"wm{n:04d}")
    run()
    calls = fake_wecom.calls_to("externalcontact/batch/get_by_user")
    assert [body["cursor"] for _params, body in calls] == ["", "100", "200"]
    assert Contact.objects.count() == 230


def test_a_sync_cut_off_mid_way_continues_from_its_cursor(corp, run, fake_wecom, settings, workspace):
    settings.WECOM_MAX_ATTEMPTS = 1
    for n in range(150):
        corp.add_customer("zhangsan", f"wm{n:04d}")
    real = corp.batch_get_by_user
    pages = []

    def flaky(params, body):
        pages.append(body["cursor"])
        if len(pages) == 2:
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        return real(params, body)

    fake_wecom.route("externalcontact/batch/get_by_user", flaky)
    states = run()
    state = states[SyncState.Kind.CONTACTS]
    assert state.status == SyncState.Status.FAILED and "45009" in state.last_error
    assert state.cursor["cursor"] == "100" and Contact.objects.count() == 100
    states = run()
    assert pages == ["", "100", "100"]  # the first page was not read again
    assert states[SyncState.Kind.CONTACTS].status == SyncState.Status.DONE
    assert states[SyncState.Kind.CONTACTS].run == state.run
    assert Contact.objects.count() == 150 and WeComContact.objects.count() == 150


def test_a_run_leased_by_another_worker_is_left_alone(corp, run, workspace):
    from django.utils import timezone

    corp.add_customer("zhangsan", "wmA")
    SyncState.objects.create(workspace=workspace, kind=SyncState.Kind.CONTACTS,
                             lease_until=timezone.now() + sync.LEASE)
    states = run()
    assert SyncState.Kind.CONTACTS not in states
    assert not Contact.objects.filter(external_id="wmA").exists()


def test_group_chats_become_customer_groups_with_their_customers(corp, run, workspace):
    corp.add_customer("zhangsan", "wmA")
    corp.add_customer("zhangsan", "wmB")
    corp.add_chat("wrCHAT1", name="海参团购群", customers=["wmA", "wmB", "wmSTRANGER"])
    run()
    group = CustomerGroup.objects.get(workspace=workspace, name="海参团购群")
    assert group.owner_account.wechat_id == "zhangsan"
    assert sorted(group.members.values_list("external_id", flat=True)) == ["wmA", "wmB"]


def test_a_customer_who_left_the_chat_leaves_the_group(corp, run, workspace):
    corp.add_customer("zhangsan", "wmA")
    corp.add_customer("zhangsan", "wmB")
    corp.add_chat("wrCHAT1", name="海参团购群", customers=["wmA", "wmB"])
    run()
    corp.add_chat("wrCHAT1", name="海参团购群2", customers=["wmA"])
    run()
    group = CustomerGroup.objects.get(workspace=workspace)
    assert group.name == "海参团购群2"
    assert list(group.members.values_list("external_id", flat=True)) == ["wmA"]


def test_a_dismissed_chat_keeps_its_group_with_a_note(corp, run, workspace):
    corp.add_chat("wrCHAT1", name="海参团购群")
    run()
    del corp.chats["wrCHAT1"]
    states = run()
    group = CustomerGroup.objects.get(workspace=workspace)
    assert group.notes.startswith("已在企业微信解散")  # stored in the default language, for everyone
    assert states[SyncState.Kind.GROUPS].counts["dismissed"] == 1


def test_another_workspaces_data_is_untouched(corp, run, workspace, outsider):
    theirs = ContactFactory(workspace=outsider.workspace, external_id="wmA", remark_name="别家的")
    corp.add_customer("zhangsan", "wmA", remark="我们的")
    corp.add_chat("wrCHAT1", name="海参团购群", customers=["wmA"])
    run()
    theirs.refresh_from_db()
    assert theirs.remark_name == "别家的" and not theirs.customer_groups.exists()
    assert not Tag.objects.filter(workspace=outsider.workspace).exists()
    assert Contact.objects.filter(workspace=workspace, external_id="wmA").count() == 1


def test_a_finished_sync_settles_the_events_waiting_for_it(corp, run, workspace):
    event = CallbackEvent.objects.create(workspace=workspace, dedupe_key="k", event="change_external_contact",
                                         status=CallbackEvent.Status.AWAITING_SYNC)
    run()
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.DONE


def test_a_workspace_without_credentials_is_not_synced(workspace, fake_wecom):
    assert sync.sync_workspace(workspace_id=workspace.pk) == []
    assert fake_wecom.calls == []


def test_a_long_sync_goes_on_in_a_new_task_from_its_cursor(corp, credentials, workspace, fake_wecom, settings):
    from wecom import tasks

    settings.WECOM_SYNC_BUDGET_SECONDS = 0  # every task stops after one page
    for n in range(230):
        corp.add_customer("zhangsan", f"wm{n:04d}")
    corp.add_chat("wrCHAT1", name="海参团购群", customers=["wm0001"])
    tasks.sync_workspace.delay(workspace.pk)
    calls = fake_wecom.calls_to("externalcontact/batch/get_by_user")
    assert [body["cursor"] for _params, body in calls] == ["", "100", "200"]
    assert Contact.objects.count() == 230 and CustomerGroup.objects.count() == 1
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncState.Status.DONE}


def test_the_beat_task_syncs_every_workspace_with_wecom(corp, credentials, workspace, outsider):
    from wecom import tasks

    corp.add_customer("zhangsan", "wmA")
    tasks.sync_all.delay()
    assert Contact.objects.filter(workspace=workspace, external_id="wmA").exists()
    assert not SyncState.objects.filter(workspace=outsider.workspace).exists()


def test_a_customer_added_while_the_sync_runs_is_not_lost(corp, run, workspace):
    from datetime import timedelta

    from django.utils import timezone

    run()
    seller = WeChatAccount.objects.get(workspace=workspace, wechat_id="zhangsan")
    # Made by the add callback after the run read zhangsan's customers, so not among them.
    added = ContactFactory(workspace=workspace, owner_account=seller, external_id="wmJUST",
                           created_at=timezone.now() + timedelta(seconds=30))
    run()
    added.refresh_from_db()
    assert added.stage == Contact.Stage.NEW


def test_a_chat_wecom_will_not_show_is_skipped_not_the_whole_sync(corp, run, workspace, fake_wecom):
    corp.add_chat("wrCHAT1", name="海参团购群")
    corp.add_chat("wrCHAT2", name="鲍鱼群")
    real = corp.chat_get
    fake_wecom.route("externalcontact/groupchat/get",
                     lambda params, body: {"errcode": 49008, "errmsg": "gone"} if body["chat_id"] == "wrCHAT1"
                     else real(params, body))
    states = run()
    assert states[SyncState.Kind.GROUPS].status == SyncState.Status.DONE
    assert list(CustomerGroup.objects.values_list("name", flat=True)) == ["鲍鱼群"]


def test_only_customers_added_lately_count_as_contacts_added(corp, credentials, workspace, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    import time

    from crm import events

    added = []
    monkeypatch.setitem(events._LISTENERS, events.CONTACT_ADDED, [(lambda **kw: added.extend(kw["contact_ids"]), False)])
    corp.add_customer("zhangsan", "wmOLD", createtime=1700000000)  # 2023: the shop's history, like an import
    corp.add_customer("zhangsan", "wmNEW", createtime=int(time.time()) - 600)  # its add callback went missing
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_workspace(workspace_id=workspace.pk)
    assert added == [Contact.objects.get(external_id="wmNEW").pk]
