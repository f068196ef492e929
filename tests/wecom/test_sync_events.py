"""Callbacks that ask for a small sync: a customer edited in WeCom, a group chat changed, the tag library changed."""

import pytest

from crm.models import Contact, ContactTag, CustomerGroup, Tag
from tests.factories import ContactFactory
from wecom.models import CallbackEvent

pytestmark = pytest.mark.django_db


def test_an_edit_in_wecom_brings_the_customers_remark_and_tags(deliver, corp, seller, workspace, fake_wecom):
    contact = ContactFactory(workspace=workspace, external_id="wmEDIT", owner_account=seller, remark_name="")
    corp.add_customer("zhangsan", "wmEDIT", remark="李姐-改了备注", tags=["etVIP"])
    deliver("edit_external_contact", UserID="zhangsan", ExternalUserID="wmEDIT")
    contact.refresh_from_db()
    assert contact.remark_name == "李姐-改了备注"
    assert list(ContactTag.objects.filter(content_object=contact).values_list("tag__name", flat=True)) == ["VIP"]
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.DONE
    assert [params["external_userid"] for params, _ in fake_wecom.calls_to("externalcontact/get")] == ["wmEDIT"]


def test_an_edit_wecom_cannot_answer_waits_for_the_next_full_sync(deliver, corp, seller, workspace, fake_wecom,
                                                                   settings):
    settings.WECOM_MAX_ATTEMPTS = 1
    ContactFactory(workspace=workspace, external_id="wmEDIT", owner_account=seller)
    fake_wecom.fail_next("externalcontact/get", 45009)
    deliver("edit_external_contact", UserID="zhangsan", ExternalUserID="wmEDIT")
    event = CallbackEvent.objects.get()
    assert event.status == CallbackEvent.Status.AWAITING_SYNC and "45009" in event.error


def test_a_changed_group_chat_is_read_again(deliver, corp, seller, workspace):
    ContactFactory(workspace=workspace, external_id="wmA", owner_account=seller)
    corp.add_chat("wrCHAT", name="海参团购群", customers=["wmA"])
    deliver("update", event="change_external_chat", ChatId="wrCHAT", UpdateDetail="add_member")
    group = CustomerGroup.objects.get(workspace=workspace)
    assert (group.name, list(group.members.values_list("external_id", flat=True))) == ("海参团购群", ["wmA"])
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.DONE


def test_a_dismissed_group_chat_is_marked(deliver, corp, seller, workspace):
    corp.add_chat("wrCHAT", name="海参团购群")
    deliver("create", event="change_external_chat", ChatId="wrCHAT")
    deliver("dismiss", event="change_external_chat", ChatId="wrCHAT")
    assert "海参团购群" == CustomerGroup.objects.get(workspace=workspace).name
    assert CustomerGroup.objects.get(workspace=workspace).notes


def test_a_tag_change_in_wecom_reads_the_tag_library(deliver, corp, workspace):
    corp.tag_groups["etGROUP1"]["tags"]["etNEW"] = "复购"
    deliver("create", event="change_external_tag", Id="etNEW", TagType="tag")
    assert Tag.objects.filter(workspace=workspace, name="复购", group__name="客户等级").exists()
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.DONE


def test_an_edit_of_a_customer_siyu_does_not_know_is_ignored(deliver, corp, seller, fake_wecom):
    deliver("edit_external_contact", UserID="zhangsan", ExternalUserID="wmNOBODY")
    assert CallbackEvent.objects.get().status == CallbackEvent.Status.IGNORED
    assert not Contact.objects.exists() and fake_wecom.calls == []
