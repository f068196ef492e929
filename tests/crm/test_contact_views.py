import pytest
from django.urls import reverse

from crm.models import ContactTag, TimelineEvent
from tests.factories import ContactFactory, OrderFactory, TagFactory, TagGroupFactory, tag_contact

pytestmark = pytest.mark.django_db


def test_it_lists_the_workspaces_contacts_to_owner_and_teammate(owner_client, teammate_client, workspace):
    ContactFactory(workspace=workspace, remark_name="张姐-老客-爱买海参")
    for client in (owner_client, teammate_client):
        response = client.get(reverse("crm:contact_list"))
        assert response.status_code == 200
        assert "张姐-老客-爱买海参" in response.content.decode()


def test_it_hides_other_workspaces_contacts_from_the_list(outsider_client, workspace):
    ContactFactory(workspace=workspace, remark_name="张姐-老客-爱买海参")
    response = outsider_client.get(reverse("crm:contact_list"))
    assert "张姐-老客-爱买海参" not in response.content.decode()


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("crm:contact_list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize(
    "name", ["contact_detail", "contact_edit", "contact_remark", "contact_tags", "contact_timeline"]
)
def test_another_workspaces_contact_is_a_404(outsider_client, workspace, name):
    contact = ContactFactory(workspace=workspace)
    assert outsider_client.get(reverse(f"crm:{name}", args=[contact.pk])).status_code == 404


@pytest.mark.parametrize("name", ["contact_note_add", "contact_avatar", "order_create", "contact_remark", "contact_tags"])
def test_another_workspaces_contact_cannot_be_written(outsider_client, workspace, name):
    contact = ContactFactory(workspace=workspace, remark_name="原备注")
    response = outsider_client.post(reverse(f"crm:{name}", args=[contact.pk]), {"remark_name": "hacked", "tags": "x", "body": "x", "kind": "note"})
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.remark_name == "原备注"
    assert not contact.timeline_events.exists()


def test_a_remark_with_a_script_renders_escaped(owner_client, workspace):
    contact = ContactFactory(workspace=workspace, remark_name="<script>alert(1)</script>")
    for url in (reverse("crm:contact_detail", args=[contact.pk]), reverse("crm:contact_list")):
        html = owner_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_contact_page_shows_fields_tags_groups_orders_and_timeline(owner_client, workspace):
    contact = ContactFactory(workspace=workspace, nickname="海风🌊", wechat_id="wxid_sea", phone="+8613812345678")
    tag_contact(contact, TagFactory(workspace=workspace, name="爱买海参"))
    OrderFactory(contact=contact, amount="388.00", items="海参礼盒")
    html = owner_client.get(reverse("crm:contact_detail", args=[contact.pk])).content.decode()
    for text in ("海风🌊", "wxid_sea", "+8613812345678", "爱买海参", "388.00", "海参礼盒"):
        assert text in html


def test_a_note_added_inline_appears_on_the_timeline_newest_first(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    url = reverse("crm:contact_note_add", args=[contact.pk])
    owner_client.post(url, {"kind": "note", "body": "第一次聊"}, HTTP_HX_REQUEST="true")
    response = owner_client.post(url, {"kind": "follow_up", "body": "回访：想要礼盒"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.index("回访：想要礼盒") < html.index("第一次聊")


def test_an_empty_note_is_refused_with_a_message(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = owner_client.post(reverse("crm:contact_note_add", args=[contact.pk]), {"kind": "note", "body": ""})
    assert response.status_code == 400
    assert not contact.timeline_events.exists()


def test_the_remark_is_edited_inline_and_the_change_lands_on_the_timeline(teammate_client, workspace):
    contact = ContactFactory(workspace=workspace, remark_name="张姐")
    url = reverse("crm:contact_remark", args=[contact.pk])
    assert 'name="remark_name"' in teammate_client.get(url + "?edit=1", HTTP_HX_REQUEST="true").content.decode()
    response = teammate_client.post(url, {"remark_name": "张姐-老客-爱买海参", "description": "只要大连的"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "张姐-老客-爱买海参" in html
    assert 'id="contact-name" hx-swap-oob="true">张姐-老客-爱买海参<' in html  # the page title follows
    contact.refresh_from_db()
    assert contact.remark_name == "张姐-老客-爱买海参"
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.REMARK_CHANGED).exists()


def test_tags_are_edited_inline_creating_new_ones(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    TagFactory(workspace=workspace, name="老客")
    response = owner_client.post(
        reverse("crm:contact_tags", args=[contact.pk]), {"tags": "老客，爱买海参"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert sorted(contact.tags.names()) == ["爱买海参", "老客"]
    assert contact.timeline_events.filter(kind=TimelineEvent.Kind.TAG_ADDED).count() == 2


def test_two_tags_of_an_exclusive_group_are_refused_inline(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级", exclusive=True)
    TagFactory(workspace=workspace, name="A", group=group)
    TagFactory(workspace=workspace, name="B", group=group)
    contact = ContactFactory(workspace=workspace)
    response = owner_client.post(reverse("crm:contact_tags", args=[contact.pk]), {"tags": "A, B"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "客户等级" in response.content.decode()
    assert not ContactTag.objects.filter(content_object=contact).exists()


def test_an_order_is_recorded_by_hand(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = owner_client.post(
        reverse("crm:order_create", args=[contact.pk]),
        {"amount": "129.90", "placed_at": "2026-11-01T10:30", "channel": "pdd", "items": "海参 2 盒"},
    )
    assert response.status_code == 302
    order = contact.orders.get()
    assert str(order.amount) == "129.90" and order.channel == "pdd"


def test_a_negative_order_amount_is_refused(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    response = owner_client.post(
        reverse("crm:order_create", args=[contact.pk]),
        {"amount": "-5", "placed_at": "2026-11-01T10:30", "channel": "pdd"},
    )
    assert response.status_code == 400
    assert not contact.orders.exists()


def test_a_contact_is_added_with_a_normalised_phone_and_emoji_nickname(owner_client, workspace, account):
    response = owner_client.post(
        reverse("crm:contact_create"),
        {"nickname": "小鱼🐟", "phone": "138 1234 5678", "gender": 2, "owner_account": account.pk,
         "added_at": "2026-11-01T09:00", "source": "referral", "stage": "new"},
    )
    assert response.status_code == 302
    contact = workspace.contacts.get()
    assert contact.nickname == "小鱼🐟"
    assert contact.phone == "+8613812345678"


def test_a_bad_phone_number_is_a_form_error(owner_client, workspace):
    response = owner_client.post(
        reverse("crm:contact_create"),
        {"nickname": "x", "phone": "12345", "gender": 0, "added_at": "2026-11-01T09:00", "source": "manual", "stage": "new"},
    )
    assert response.status_code == 200
    assert "12345" in response.content.decode()
    assert not workspace.contacts.exists()


@pytest.mark.parametrize(
    "name,query",
    [("contact_detail", ""), ("contact_edit", ""), ("contact_remark", "?edit=1"), ("contact_tags", "?edit=1"),
     ("contact_timeline", "")],
)
def test_owner_and_teammate_open_every_contact_page(owner_client, teammate_client, workspace, name, query):
    contact = ContactFactory(workspace=workspace)
    for client in (owner_client, teammate_client):
        assert client.get(reverse(f"crm:{name}", args=[contact.pk]) + query).status_code == 200


def test_the_add_contact_page_opens_for_owner_and_teammate(owner_client, teammate_client):
    for client in (owner_client, teammate_client):
        assert client.get(reverse("crm:contact_create")).status_code == 200


def test_another_workspaces_order_cannot_be_deleted(outsider_client, workspace):
    order = OrderFactory(contact=ContactFactory(workspace=workspace))
    response = outsider_client.post(reverse("crm:order_delete", args=[order.contact_id, order.pk]))
    assert response.status_code == 404
    assert order.contact.orders.exists()


def test_tag_chips_on_the_list_are_escaped(owner_client, workspace):
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, TagFactory(workspace=workspace, name="<img src=x onerror=alert(1)>"), TagFactory(workspace=workspace, name="{}"))
    html = owner_client.get(reverse("crm:contact_list")).content.decode()
    assert '<span class="tag">&lt;img src=x onerror=alert(1)&gt;</span>' in html
    assert '<span class="tag">{}</span>' in html
