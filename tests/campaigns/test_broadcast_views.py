"""The broadcast pages as owner, teammate and outsider: the list, compose, the live preview and the messaging
settings (sending, pausing and progress: test_broadcast_sending_views.py)."""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import drafts, services
from campaigns.models import Broadcast, MessagingSettings
from crm.models import Member, OutboxMessage, Segment, WeChatAccount
from tests.campaigns.conftest import ENGLISH, HTMX, detail, html, make_broadcast
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, TagFactory, WeChatAccountFactory, WorkspaceFactory, tag_contact

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
def compose(client, **fields):
    data = {"name": "双十一", "text": "{备注名}，新品到了", "when": "now", **fields}
    return client.post(reverse("campaigns:broadcast_create"), data, **ENGLISH)


def local_input(at: datetime) -> str:
    return timezone.localtime(at, SHANGHAI).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def two_accounts(workspace, outbox_account, buyers):
    """A second outbox account, 二号, with two customers of its own, both tagged 老客 too."""
    other = WeChatAccountFactory(workspace=workspace, name="二号", channel=WeChatAccount.Channel.OUTBOX)
    theirs = [ContactFactory(workspace=workspace, owner_account=other, remark_name=f"二号客{n}") for n in range(2)]
    for contact in theirs:
        tag_contact(contact, buyers["tag"])
    return {"one": outbox_account, "two": other, "theirs": theirs}


@pytest.fixture
def limited(workspace, two_accounts):
    """A staff member who sees only the customers of 一号."""
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(two_accounts["one"])
    return member


# The list -------------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_broadcast_with_its_progress_newest_first(owner_client, workspace, broadcast, buyers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcast_send(broadcast=broadcast)
    draft = make_broadcast(workspace, tags=[buyers["tag"].pk])
    draft.name = "年货节"
    draft.save()
    response = owner_client.get(reverse("campaigns:broadcast_list"), **ENGLISH)
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [b.pk for b, _progress in rows] == [draft.pk, broadcast.pk]
    assert rows[0][1] is None
    assert (rows[1][1]["sent"], rows[1][1]["total"]) == (5, 5)
    assert "5 sent · 0 with staff · 0 skipped · 0 failed of 5" in html(response)


def test_the_list_shows_times_in_the_workspaces_time_zone(owner_client, workspace):
    workspace.time_zone = "Europe/London"
    workspace.save()
    Broadcast.objects.create(workspace=workspace, name="伦敦", scheduled_at=datetime(2030, 1, 5, 12, 0, tzinfo=SHANGHAI))
    assert "2030-01-05 04:00" in html(owner_client.get(reverse("campaigns:broadcast_list")))


def test_the_list_is_paged_by_fifty(teammate_client, workspace):
    Broadcast.objects.bulk_create([Broadcast(workspace=workspace, name=f"群发{n}") for n in range(53)])
    first = teammate_client.get(reverse("campaigns:broadcast_list"))
    second = teammate_client.get(reverse("campaigns:broadcast_list") + "?page=2")
    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 3


def test_an_outsider_sees_none_of_another_workspaces_broadcasts(outsider_client, broadcast):
    response = outsider_client.get(reverse("campaigns:broadcast_list"))
    assert response.status_code == 200
    assert response.context["rows"] == [] and broadcast.name not in html(response)


def test_the_broadcast_pages_are_in_chinese_by_default(owner_client, broadcast):
    page = html(owner_client.get(reverse("campaigns:broadcast_list")))
    assert "群发" in re.search(r"<h1[^>]*>(.*?)</h1>", page).group(1)
    page = html(owner_client.get(reverse("campaigns:broadcast_detail", args=[broadcast.pk])))
    assert "Who it reaches" not in page and "Opted out" not in page


def test_the_campaigns_catalogue_is_compiled_and_every_message_translated():
    from pathlib import Path

    from django.conf import settings
    from django.utils import translation

    folder = Path(settings.BASE_DIR) / "campaigns" / "locale" / "zh_Hans" / "LC_MESSAGES"
    text = (folder / "django.po").read_text(encoding="utf-8")
    assert (folder / "django.mo").is_file()
    assert "fuzzy" not in text
    assert not re.search(r'^msgstr(\[0\])? ""\n\n', text.split("\n\n", 1)[1] + "\n\n", re.MULTILINE)
    with translation.override("zh-hans"):
        assert translation.gettext("Messaging settings") == "群发设置"
        assert translation.gettext("Already messaged today") == "今天已发过"


def test_anyone_signed_out_is_sent_to_sign_in(client, broadcast):
    for url in (reverse("campaigns:broadcast_list"), reverse("campaigns:broadcast_detail", args=[broadcast.pk]),
                reverse("campaigns:messaging_settings")):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_every_page_of_a_broadcast_opens_for_the_owner_and_a_teammate_alike(request, who, owner, broadcast):
    from tests.campaigns.test_broadcast_images import image_upload

    image = drafts.broadcast_image_add(broadcast=broadcast, member=owner, upload=image_upload())
    client = request.getfixturevalue(who)
    for url in (reverse("campaigns:broadcast_list"), reverse("campaigns:broadcast_create"),
                reverse("campaigns:broadcast_detail", args=[broadcast.pk]),
                reverse("campaigns:broadcast_edit", args=[broadcast.pk]),
                reverse("campaigns:broadcast_cancel", args=[broadcast.pk]),
                reverse("campaigns:broadcast_image", args=[broadcast.pk, image.pk]),
                reverse("campaigns:messaging_settings")):
        assert client.get(url).status_code == 200, url
    assert client.post(reverse("campaigns:broadcast_text_preview"), {"text": "x"}).status_code == 200


# Another workspace's broadcast ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "broadcast_detail", "broadcast_edit", "broadcast_send", "broadcast_pause", "broadcast_resume", "broadcast_cancel",
    "broadcast_unschedule",
])
def test_every_page_of_another_workspaces_broadcast_is_a_404(outsider_client, broadcast, name):
    url = reverse(f"campaigns:{name}", args=[broadcast.pk])
    assert outsider_client.post(url, {"name": "偷改"}).status_code == 404
    if name in ("broadcast_detail", "broadcast_edit", "broadcast_cancel"):
        assert outsider_client.get(url).status_code == 404
    broadcast.refresh_from_db()
    assert (broadcast.name, broadcast.status) == ("双十一", Broadcast.Status.DRAFT)


def test_another_workspaces_image_is_a_404(owner, owner_client, outsider_client, broadcast):
    from tests.campaigns.test_broadcast_images import image_upload

    drafts.broadcast_image_add(broadcast=broadcast, member=owner, upload=image_upload())
    image = broadcast.images.get()
    url = reverse("campaigns:broadcast_image", args=[broadcast.pk, image.pk])
    assert owner_client.get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404


# Compose ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_a_member_composes_a_broadcast_and_sends_it_to_each_customer_once(request, who, workspace, buyers, django_capture_on_commit_callbacks):
    client = request.getfixturevalue(who)
    assert client.get(reverse("campaigns:broadcast_create")).status_code == 200
    response = compose(client, tags=[buyers["tag"].pk])
    broadcast = Broadcast.objects.get(workspace=workspace)
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:broadcast_detail", args=[broadcast.pk])
    assert (broadcast.status, broadcast.audience, broadcast.scheduled_at) == ("draft", {"tags": [buyers["tag"].pk]}, None)

    page = detail(client, broadcast)
    assert page.context["preview"].to_send == 5
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]), **ENGLISH)
    assert response.status_code == 302
    sent = OutboxMessage.objects.filter(workspace=workspace)
    assert sorted(sent.values_list("contact_id", flat=True)) == sorted(c.pk for c in buyers["contacts"])
    first = buyers["contacts"][0]
    assert sent.get(contact=first).text == f"{first.remark_name}，新品到了"
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED
    page = detail(client, broadcast)
    assert page.context["progress"]["sent"] == 5
    assert len(page.context["deliveries"]) == 5


def test_the_composer_explains_the_placeholders(owner_client):
    page = html(owner_client.get(reverse("campaigns:broadcast_create"), **ENGLISH))
    assert "{备注名}" in page and "{昵称}" in page and "{备注名|朋友}" in page


def test_a_draft_needs_only_a_name(owner_client, workspace):
    response = compose(owner_client, text="")
    assert response.status_code == 302
    assert Broadcast.objects.get(workspace=workspace).text == ""
    response = compose(owner_client, name="")
    assert response.status_code == 400 and "required" in html(response)


def test_editing_a_draft_saves_its_changes(teammate_client, broadcast, buyers, workspace):
    segment = Segment.objects.create(workspace=workspace, name="全部", rule={"version": 1, "root": {"op": "and", "children": []}})
    url = reverse("campaigns:broadcast_edit", args=[broadcast.pk])
    form = teammate_client.get(url)
    assert form.status_code == 200 and form.context["form"]["text"].value() == "{备注名}，新品到了"
    response = teammate_client.post(url, {
        "name": "双十二", "text": "{昵称|朋友}好", "when": "now", "segments": [segment.pk], "exclude_tags": [buyers["tag"].pk],
    })
    assert response.status_code == 302
    broadcast.refresh_from_db()
    assert (broadcast.name, broadcast.text) == ("双十二", "{昵称|朋友}好")
    assert broadcast.audience == {"segments": [segment.pk], "exclude_tags": [buyers["tag"].pk]}


def test_a_broadcast_that_has_started_is_not_edited(owner_client, sending):
    response = owner_client.post(reverse("campaigns:broadcast_edit", args=[sending.pk]), {"name": "改", "when": "now"}, follow=True, **ENGLISH)
    assert "Only a draft can be edited." in html(response)
    sending.refresh_from_db()
    assert sending.name == "双十一"


def test_another_workspaces_tag_cannot_be_chosen(owner_client, workspace):
    foreign = TagFactory(workspace=WorkspaceFactory(), name="别家标签")
    response = compose(owner_client, tags=[foreign.pk])
    assert response.status_code == 400
    assert not Broadcast.objects.filter(workspace=workspace).exists()
    assert "别家标签" not in html(response)


def test_an_audience_with_another_workspaces_segment_is_refused_by_the_service(owner, workspace):
    foreign = Segment.objects.create(workspace=WorkspaceFactory(), name="别家", rule={"version": 1, "root": {"op": "and", "children": []}})
    with pytest.raises(services.ValidationError):
        drafts.broadcast_create(member=owner, name="x", audience={"segments": [foreign.pk]})


def test_a_message_over_two_thousand_characters_is_refused(owner_client, workspace):
    response = compose(owner_client, text="好" * 2001)
    assert response.status_code == 400
    assert "at most 2000 characters" in html(response)
    assert not Broadcast.objects.filter(workspace=workspace).exists()


# The link card.


def test_a_link_card_is_saved_with_https_when_the_address_has_no_scheme(owner_client, workspace):
    response = compose(owner_client, link_title="新品", link_description="点这里看", link_url="shop.example.com/new")
    assert response.status_code == 302
    assert Broadcast.objects.get(workspace=workspace).link == {
        "title": "新品", "description": "点这里看", "url": "https://shop.example.com/new"
    }


@pytest.mark.parametrize("address", ["javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://example.com/a"])
def test_a_link_card_that_is_no_web_link_is_refused(owner_client, workspace, address):
    response = compose(owner_client, link_title="点我", link_url=address)
    assert response.status_code == 400
    assert "Enter a web address starting with http:// or https://." in html(response)
    assert not Broadcast.objects.filter(workspace=workspace).exists()


def test_a_link_card_needs_a_title(owner_client, workspace):
    response = compose(owner_client, link_url="https://example.com")
    assert response.status_code == 400 and "A link card needs a title." in html(response)


def test_the_service_refuses_a_javascript_link_too(owner):
    with pytest.raises(services.ValidationError):
        drafts.broadcast_create(member=owner, name="x", link={"title": "t", "url": "javascript:alert(1)"})


# The schedule.


def test_a_time_to_send_is_read_in_the_workspaces_time_zone(owner_client, workspace):
    at = (timezone.now() + timedelta(days=2)).astimezone(SHANGHAI).replace(hour=20, minute=0, second=0, microsecond=0)
    response = compose(owner_client, when="later", send_at=at.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 302
    stored = Broadcast.objects.get(workspace=workspace).scheduled_at
    assert stored == at and stored.astimezone(ZoneInfo("UTC")).hour == 12


def test_a_time_to_send_in_another_time_zone_follows_the_workspace(owner_client, workspace):
    workspace.time_zone = "America/New_York"
    workspace.save()
    response = compose(owner_client, when="later", send_at="2031-07-01T09:30")
    assert response.status_code == 302
    assert Broadcast.objects.get(workspace=workspace).scheduled_at == datetime(2031, 7, 1, 13, 30, tzinfo=ZoneInfo("UTC"))


def test_a_time_in_the_past_is_refused(owner_client, workspace):
    response = compose(owner_client, when="later", send_at=local_input(timezone.now() - timedelta(hours=1)))
    assert response.status_code == 400
    assert "This time has passed" in html(response)
    assert not Broadcast.objects.filter(workspace=workspace).exists()


@pytest.mark.parametrize("value", ["明天晚上", "2026-13-45T25:61", "", "20261111"])
def test_an_unreadable_time_is_refused(owner_client, workspace, value):
    response = compose(owner_client, when="later", send_at=value)
    assert response.status_code == 400
    assert "Enter a date and time" in html(response) or "Choose the date and time" in html(response)
    assert not Broadcast.objects.filter(workspace=workspace).exists()


# The live preview -------------------------------------------------------------------------------------------------------


def preview(client, **fields):
    return client.post(reverse("campaigns:broadcast_text_preview"), fields, **HTMX, **ENGLISH)


def test_the_live_preview_personalises_the_text_for_the_newest_customer_of_the_audience(teammate_client, workspace, buyers, outbox_account):
    newest = ContactFactory(workspace=workspace, owner_account=outbox_account, remark_name="刘姐",
                            added_at=timezone.now() + timedelta(minutes=1))
    tag_contact(newest, buyers["tag"])
    response = preview(teammate_client, text="{备注名}，新品到了\n快来看", tags=[buyers["tag"].pk])
    assert response.status_code == 200
    assert response.context["sample"].contact == newest
    assert "刘姐，新品到了<br>快来看" in html(response)


def test_the_live_preview_without_an_audience_uses_an_example_customer(owner_client):
    response = preview(owner_client, text="{备注名}好，{昵称|朋友}")
    assert response.context["sample"].contact is None
    assert "王姐好，小王" in html(response)


def test_the_live_preview_names_braces_that_are_no_placeholder(owner_client):
    response = preview(owner_client, text="{姓名}，你好")
    assert response.context["sample"].unknown == ["{姓名}"]
    assert "Not a placeholder" in html(response)


def test_a_script_in_the_text_is_shown_escaped(owner_client, workspace, buyers):
    text = "<script>alert(1)</script>{备注名}"
    response = preview(owner_client, text=text, tags=[buyers["tag"].pk])
    assert "<script>alert(1)</script>" not in html(response)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html(response)
    broadcast = make_broadcast(workspace, text=text, tags=[buyers["tag"].pk])
    broadcast.name = "<script>alert(2)</script>"
    broadcast.save()
    for url in (reverse("campaigns:broadcast_detail", args=[broadcast.pk]), reverse("campaigns:broadcast_list"),
                reverse("campaigns:broadcast_edit", args=[broadcast.pk])):
        page = html(owner_client.get(url))
        assert "<script>alert(" not in page, url
        assert "&lt;script&gt;alert(" in page, url


def test_the_live_preview_never_shows_another_workspaces_customer(owner_client, outsider):
    stranger_tag = TagFactory(workspace=outsider.workspace)
    tag_contact(ContactFactory(workspace=outsider.workspace, remark_name="别家客户"), stranger_tag)
    response = preview(owner_client, text="{备注名}", tags=[stranger_tag.pk])
    assert response.context["sample"].contact is None
    assert "别家客户" not in html(response)


# A staff member limited to some accounts -------------------------------------------------------------------------------


def test_a_limited_teammate_picks_only_their_accounts_and_reaches_only_their_customers(limited, workspace, two_accounts, buyers, django_capture_on_commit_callbacks):
    client = client_for(limited)
    form = client.get(reverse("campaigns:broadcast_create")).context["form"]
    assert [pk for pk, _name in form.fields["accounts"].choices] == [two_accounts["one"].pk]
    assert "tags" not in form.fields and "segments" not in form.fields and "groups" not in form.fields
    response = compose(client, tags=[buyers["tag"].pk])  # a tag is no field for them: left out
    assert response.status_code == 302
    broadcast = Broadcast.objects.get(workspace=workspace)
    assert broadcast.audience == {"accounts": [two_accounts["one"].pk]}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]))
    reached = set(OutboxMessage.objects.values_list("contact_id", flat=True))
    assert reached == {c.pk for c in buyers["contacts"]}
    assert not reached & {c.pk for c in two_accounts["theirs"]}


def test_a_limited_teammate_cannot_choose_an_account_not_assigned_to_them(limited, workspace, two_accounts):
    response = compose(client_for(limited), accounts=[two_accounts["two"].pk])
    assert response.status_code == 400
    assert not Broadcast.objects.filter(workspace=workspace).exists()
    with pytest.raises(services.ValidationError):
        drafts.broadcast_create(member=limited, name="x", audience={"accounts": [two_accounts["two"].pk]})
    with pytest.raises(services.ValidationError):
        drafts.broadcast_create(member=limited, name="x", audience={"tags": [1]})


def test_a_limited_teammate_cannot_send_or_change_a_broadcast_reaching_other_accounts(limited, broadcast, two_accounts):
    client = client_for(limited)
    page = detail(client, broadcast)
    assert page.status_code == 200 and 'id="not-yours"' in html(page) and 'id="send-button"' not in html(page)
    assert "preview" not in page.context and 'id="audience-count"' not in html(page)  # not theirs to count
    for name in ("broadcast_send", "broadcast_edit", "broadcast_cancel", "broadcast_pause"):
        assert client.post(reverse(f"campaigns:{name}", args=[broadcast.pk]), {"name": "x", "when": "now"}).status_code == 403
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT and OutboxMessage.objects.count() == 0


def test_a_limited_teammate_sees_the_deliveries_of_their_own_customers_only(limited, workspace, two_accounts, buyers, django_capture_on_commit_callbacks):
    broadcast = make_broadcast(workspace, tags=[buyers["tag"].pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcast_send(broadcast=broadcast)
    page = detail(client_for(limited), broadcast)
    assert {d.contact_id for d in page.context["deliveries"]} == {c.pk for c in buyers["contacts"]}
    assert "二号客" not in html(page)


def test_the_live_preview_of_a_limited_teammate_shows_one_of_their_own_customers(limited, two_accounts, buyers):
    response = preview(client_for(limited), text="{备注名}")
    assert response.context["sample"].contact in buyers["contacts"]


# Messaging settings ---------------------------------------------------------------------------------------------------


def test_the_owner_changes_the_messaging_settings(owner_client, workspace):
    url = reverse("campaigns:messaging_settings")
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(url, {"quiet_start": "21:30", "quiet_end": "09:00", "daily_cap": "2", "monthly_cap": ""})
    assert response.status_code == 302
    rules = MessagingSettings.objects.get(workspace=workspace)
    assert (rules.quiet_start, rules.quiet_end, rules.daily_cap, rules.monthly_cap) == (time(21, 30), time(9), 2, None)


def test_the_owner_of_a_workspace_without_settings_gets_them_created(outsider_client, outsider):
    response = outsider_client.post(reverse("campaigns:messaging_settings"),
                                    {"quiet_start": "23:00", "quiet_end": "07:00", "daily_cap": "1", "monthly_cap": "4"})
    assert response.status_code == 302
    assert MessagingSettings.objects.get(workspace=outsider.workspace).monthly_cap == 4


@pytest.mark.parametrize("field, value", [("daily_cap", "0"), ("monthly_cap", "0"), ("quiet_start", "25:00"), ("daily_cap", "abc")])
def test_bad_messaging_settings_are_refused(owner_client, workspace, field, value):
    data = {"quiet_start": "22:00", "quiet_end": "08:00", "daily_cap": "1", "monthly_cap": "", field: value}
    response = owner_client.post(reverse("campaigns:messaging_settings"), data, **ENGLISH)
    assert response.status_code == 400
    assert MessagingSettings.objects.get(workspace=workspace).quiet_start == time(0)  # unchanged (conftest)


def test_a_teammate_sees_the_messaging_settings_but_cannot_change_them(teammate_client, workspace):
    url = reverse("campaigns:messaging_settings")
    response = teammate_client.get(url, **ENGLISH)
    assert response.status_code == 200
    assert "Only the workspace's owner can change these settings." in html(response)
    assert all(field.disabled for field in response.context["form"].fields.values())
    assert teammate_client.post(url, {"quiet_start": "10:00", "quiet_end": "11:00", "daily_cap": "9"}).status_code == 403
    assert MessagingSettings.objects.get(workspace=workspace).daily_cap == 1


def test_an_outsider_never_changes_another_workspaces_settings(outsider_client, workspace):
    outsider_client.post(reverse("campaigns:messaging_settings"),
                         {"quiet_start": "10:00", "quiet_end": "11:00", "daily_cap": "9", "monthly_cap": ""})
    assert MessagingSettings.objects.get(workspace=workspace).daily_cap == 1


# The admin ------------------------------------------------------------------------------------------------------------


def test_an_admin_user_sees_only_the_broadcasts_of_workspaces_they_own(workspace, outsider):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER, user=UserFactory(is_staff=True))
    owner.user.user_permissions.add(Permission.objects.get(codename="view_broadcast"))
    Broadcast.objects.create(workspace=workspace, name="自家群发")
    Broadcast.objects.create(workspace=outsider.workspace, name="别家群发")
    page = html(client_for(owner).get(reverse("admin:campaigns_broadcast_changelist")))
    assert "自家群发" in page and "别家群发" not in page


def test_send_pressed_in_the_quiet_hours_waits_for_them_to_end(owner_client, workspace, broadcast):
    now = timezone.localtime(timezone.now(), SHANGHAI)
    start, end = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0), (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    MessagingSettings.objects.filter(workspace=workspace).update(quiet_start=start, quiet_end=end)
    response = owner_client.post(reverse("campaigns:broadcast_send", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "Scheduled: it will start at" in html(response) and end.strftime("%H:%M") in html(response)
    assert "(after the quiet hours)" in html(response)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SCHEDULED and OutboxMessage.objects.count() == 0


def test_cancelling_a_finished_broadcast_only_says_it_is_over(owner_client, broadcast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.broadcast_send(broadcast=broadcast)
    response = owner_client.get(reverse("campaigns:broadcast_cancel", args=[broadcast.pk]), follow=True, **ENGLISH)
    assert "over already" in html(response)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FINISHED
