"""A seller's day in the browser: sign in, filter by tags, bulk-tag, open a contact, edit its remark inline."""

import re

import pytest
from playwright.sync_api import expect

from crm.models import ContactTag, Member, Tag, TimelineEvent
from tests.factories import (
    ContactFactory,
    MemberFactory,
    OrderFactory,
    TagFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def book(transactional_db):
    """张姐's shop: five contacts, two of them tagged both 海参 and 老客; and another shop she must never see."""
    workspace = WorkspaceFactory(name="张姐海味", slug="zhang-seafood")
    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER)
    account = WeChatAccountFactory(workspace=workspace, name="海味小张")
    sea_cucumber = TagFactory(workspace=workspace, name="海参")
    regular = TagFactory(workspace=workspace, name="老客")
    TagFactory(workspace=workspace, name="团购")

    def contact(remark, *tags):
        c = ContactFactory(workspace=workspace, owner_account=account, remark_name=remark)
        tag_contact(c, *tags)
        return c

    contacts = {
        "wang": contact("王姐-海参老客", sea_cucumber, regular),
        "li": contact("李哥-海参老客", sea_cucumber, regular),
        "chen": contact("陈阿姨-只买海参", sea_cucumber),
        "zhao": contact("赵先生-老客", regular),
        "liu": contact("刘小姐-新客"),
    }
    other_shop = WorkspaceFactory(name="别家店")
    ContactFactory(workspace=other_shop, remark_name="别家的客人")
    return {"workspace": workspace, "owner": owner, "contacts": contacts, "tags": (sea_cucumber, regular)}


def result_row(page, name):
    return page.locator("#contact-results tbody tr", has_text=name)


def test_a_seller_signs_in_through_the_form_and_sees_the_contact_list(page, live_server, book, screenshot):
    page.goto(f"{live_server.url}/")
    page.wait_for_url(re.compile(r"/login/"))  # anonymous: sent to sign in first
    page.fill("input[name=username]", book["owner"].user.get_username())
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("form:has(input[name=password]) button[type=submit]")

    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".workspace-name")).to_have_text("张姐海味")
    expect(page.locator("#result-count")).to_have_text("5 contacts")
    expect(page.locator("#contact-results tbody tr")).to_have_count(5)
    for c in book["contacts"].values():
        expect(result_row(page, c.remark_name)).to_have_count(1)
    expect(page.locator("#contact-results")).not_to_contain_text("别家的客人")
    screenshot("contact-list")


def test_filtering_by_two_tags_shows_only_contacts_with_both(page, sign_in, book, screenshot):
    sign_in(book["owner"].user)
    expect(page.locator("#result-count")).to_have_text("5 contacts")
    page.evaluate("window.__sameDocument = true")

    # The filter form submits itself through htmx on change and swaps #contact-results.
    with page.expect_response(lambda r: "tags_all=" in r.url and r.request.headers.get("hx-request") == "true"):
        page.select_option("select[name=tags_all]", label=["海参", "老客"])

    expect(page.locator("#result-count")).to_have_text("2 contacts")
    rows = page.locator("#contact-results tbody tr")
    expect(rows).to_have_count(2)
    expect(result_row(page, "王姐-海参老客")).to_have_count(1)
    expect(result_row(page, "李哥-海参老客")).to_have_count(1)
    for name in ("陈阿姨-只买海参", "赵先生-老客", "刘小姐-新客"):
        expect(result_row(page, name)).to_have_count(0)
    sea_cucumber, regular = book["tags"]
    assert f"tags_all={sea_cucumber.pk}" in page.url and f"tags_all={regular.pk}" in page.url  # hx-push-url
    assert page.evaluate("window.__sameDocument") is True  # swapped in place, not reloaded
    screenshot("filtered-by-two-tags")


def test_bulk_tagging_two_selected_contacts_tags_exactly_those(page, sign_in, book, screenshot):
    chen, zhao = book["contacts"]["chen"], book["contacts"]["zhao"]
    sign_in(book["owner"].user)

    page.check(f"#bulk-form input[name=contacts][value='{chen.pk}']")
    page.check(f"#bulk-form input[name=contacts][value='{zhao.pk}']")
    bulkbar = page.locator("#bulk-form .bulkbar")
    bulkbar.locator("select[name=action]").select_option("add")
    bulkbar.locator("input[name=tags]").fill("回购")
    with page.expect_navigation():
        bulkbar.get_by_role("button", name="Apply").click()

    expect(page.locator(".messages")).to_contain_text("2 contacts: 2 tags added, 0 removed.")
    tag = Tag.objects.get(workspace=book["workspace"], name="回购")
    tagged = set(ContactTag.objects.filter(tag=tag).values_list("content_object_id", flat=True))
    assert tagged == {chen.pk, zhao.pk}
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TAG_ADDED, body="回购").count() == 2
    for c in book["contacts"].values():
        row = result_row(page, c.remark_name)
        if c.pk in tagged:
            expect(row.locator(".tag", has_text="回购")).to_have_count(1)
        else:
            expect(row.locator(".tag", has_text="回购")).to_have_count(0)
    screenshot("bulk-tagged")


def test_the_contact_page_shows_remark_tags_and_timeline(page, sign_in, book, screenshot):
    wang = book["contacts"]["wang"]
    wang.description = "只要大连的海参，周末发货"
    wang.save()
    TimelineEvent.objects.create(
        workspace=book["workspace"], contact=wang, kind=TimelineEvent.Kind.NOTE, body="问了春节前能不能到货"
    )
    OrderFactory(contact=wang, amount="388.00", items="海参礼盒")
    sign_in(book["owner"].user)

    page.click(f"#contact-results a.contact-link:has-text('{wang.remark_name}')")
    page.wait_for_url(f"**/contacts/{wang.pk}/")

    expect(page.locator("#contact-name")).to_have_text("王姐-海参老客")
    remark = page.locator("#remark")
    expect(remark).to_contain_text("王姐-海参老客")
    expect(remark).to_contain_text("只要大连的海参，周末发货")
    expect(page.locator("#tags .tag")).to_have_text(["海参", "老客"], ignore_case=False)
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("问了春节前能不能到货")
    expect(timeline).to_contain_text("¥388.00")
    expect(timeline).to_contain_text("海参礼盒")
    screenshot("contact-page")


def test_editing_the_remark_inline_shows_it_without_a_reload(page, live_server, sign_in, book, screenshot):
    chen = book["contacts"]["chen"]
    sign_in(book["owner"].user)
    page.goto(f"{live_server.url}/contacts/{chen.pk}/")
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("link", name="Edit remark").click()
    form = page.locator("form#remark")
    expect(form).to_be_visible()
    form.locator("input[name=remark_name]").fill("陈阿姨-海参大客户")
    form.locator("textarea[name=description]").fill("每月买两盒，喜欢顺丰")
    form.get_by_role("button", name="Save").click()

    shown = page.locator("div#remark")
    expect(shown).to_contain_text("陈阿姨-海参大客户")
    expect(shown).to_contain_text("每月买两盒，喜欢顺丰")
    expect(page.locator("form#remark")).to_have_count(0)
    # The page title and the WeChat card follow the new remark name too (out-of-band swaps).
    expect(page.locator("#contact-name")).to_have_text("陈阿姨-海参大客户")
    expect(page.locator("#field-remark-name")).to_have_text("陈阿姨-海参大客户")
    # The timeline reloads itself on the HX-Trigger the save sends.
    expect(page.locator("#timeline")).to_contain_text("陈阿姨-海参大客户")
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the fragment; no page load
    chen.refresh_from_db()
    assert (chen.remark_name, chen.description) == ("陈阿姨-海参大客户", "每月买两盒，喜欢顺丰")
    assert chen.timeline_events.filter(kind=TimelineEvent.Kind.REMARK_CHANGED).count() == 1
    screenshot("remark-edited-inline")


def test_a_note_the_server_refuses_shows_its_error_in_place(page, live_server, sign_in, book, screenshot):
    liu = book["contacts"]["liu"]
    sign_in(book["owner"].user)
    page.goto(f"{live_server.url}/contacts/{liu.pk}/")
    notes = page.locator("#notes")
    notes.locator("textarea[name=body]").fill("   ")  # passes the browser's own check, not the server's
    notes.get_by_role("button", name="Add").click()
    # The 400 fragment with the form's error is swapped in (htmx 2 swaps no 4xx unless told to).
    expect(page.locator("#notes .errorlist")).to_contain_text("This field is required.")
    assert not liu.timeline_events.filter(kind=TimelineEvent.Kind.NOTE).exists()
    screenshot("note-refused-in-place")
