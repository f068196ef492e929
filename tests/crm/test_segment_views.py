"""The segment pages as owner, teammate and outsider, and the htmx rule builder."""

import json

import pytest
from django.urls import reverse

from crm.models import Member, Segment
from crm.segments import empty_rule
from tests.conftest import client_for
from tests.factories import ContactFactory, MemberFactory, TagFactory, WeChatAccountFactory, tag_contact

pytestmark = pytest.mark.django_db


def rule_of(*children, op="and"):
    return {"version": 1, "root": {"op": op, "not": False, "children": list(children)}}


@pytest.fixture
def book(workspace):
    """Two accounts; 张姐 and 李哥 (老客) on 一号, 王阿姨 (no tag) on 二号."""
    one, two = WeChatAccountFactory(workspace=workspace, name="一号"), WeChatAccountFactory(workspace=workspace, name="二号")
    old = TagFactory(workspace=workspace, name="老客")
    tag_contact(ContactFactory(workspace=workspace, remark_name="张姐", owner_account=one), old)
    tag_contact(ContactFactory(workspace=workspace, remark_name="李哥", owner_account=two), old)
    ContactFactory(workspace=workspace, remark_name="王阿姨", owner_account=two)
    return {"one": one, "two": two, "old": old}


# Pages speak Chinese by default; these tests read English messages.
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def segment(workspace, book):
    return Segment.objects.create(
        workspace=workspace, name="老客们", rule=rule_of({"field": "tags", "match": "any", "tags": [book["old"].pk]})
    )


def builder_post(client, rule, url=None, **fields):
    data = {"rule": rule if isinstance(rule, str) else json.dumps(rule), **fields}
    return client.post(url or reverse("crm:segment_builder"), data, HTTP_HX_REQUEST="true", **ENGLISH)


def rule_in(response) -> dict:
    """The rule the builder holds in its hidden input."""
    return response.context["rule_json"] and json.loads(response.context["rule_json"])


# Saved segments -------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_segment_with_its_count(owner_client, segment):
    response = owner_client.get(reverse("crm:segment_list"))
    assert response.status_code == 200
    assert response.context["rows"] == [(segment, 2)]
    assert "老客们" in response.content.decode()


def test_the_nav_links_to_segments(owner_client):
    assert reverse("crm:segment_list") in owner_client.get(reverse("crm:contact_list")).content.decode()


def test_a_segments_page_shows_its_count_and_contacts(teammate_client, segment):
    response = teammate_client.get(reverse("crm:segment_detail", args=[segment.pk]))
    assert response.status_code == 200
    assert response.context["count"] == 2
    assert {c.remark_name for c in response.context["page"]} == {"张姐", "李哥"}


def test_a_segments_contacts_are_paginated_by_fifty(owner_client, workspace):
    for n in range(55):
        ContactFactory(workspace=workspace, remark_name=f"客{n}")
    segment = Segment.objects.create(workspace=workspace, name="全部", rule=empty_rule())
    first = owner_client.get(reverse("crm:segment_detail", args=[segment.pk]))
    second = owner_client.get(reverse("crm:segment_detail", args=[segment.pk]) + "?page=2")
    assert len(first.context["page"].object_list) == 50 and len(second.context["page"].object_list) == 5


def test_a_staff_member_limited_to_an_account_sees_only_its_contacts(workspace, segment, book):
    staff = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(book["one"])
    client = client_for(staff)
    assert client.get(reverse("crm:segment_list")).context["rows"] == [(segment, 1)]
    detail = client.get(reverse("crm:segment_detail", args=[segment.pk]))
    assert detail.context["count"] == 1
    assert {c.remark_name for c in detail.context["page"]} == {"张姐"}
    preview = builder_post(client, segment.rule)
    assert preview.context["preview"]["count"] == 1
    assert "李哥" not in preview.content.decode()


@pytest.mark.parametrize("name", ["segment_detail", "segment_edit", "segment_delete", "segment_builder_edit"])
def test_an_outsider_gets_a_404_for_another_workspaces_segment(outsider_client, segment, name):
    url = reverse(f"crm:{name}", args=[segment.pk])
    response = outsider_client.post(url, {"rule": "{}"}) if name == "segment_builder_edit" else outsider_client.get(url)
    assert response.status_code == 404
    assert outsider_client.post(reverse("crm:segment_delete", args=[segment.pk])).status_code == 404
    assert Segment.objects.filter(pk=segment.pk).exists()


def test_an_outsider_does_not_see_another_workspaces_segments_listed(outsider_client, segment):
    response = outsider_client.get(reverse("crm:segment_list"))
    assert response.context["rows"] == []
    assert "老客们" not in response.content.decode()


def test_anyone_signed_out_is_sent_to_sign_in(client, segment):
    response = client.get(reverse("crm:segment_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# Create, edit, delete -------------------------------------------------------------------------------------------------


def test_a_teammate_creates_a_segment_from_the_builders_inputs(teammate_client, workspace, book):
    rule = rule_of({"field": "tags", "match": "any", "tags": []})
    response = teammate_client.post(reverse("crm:segment_create"), {
        "name": "老客", "description": "回购", "rule": json.dumps(rule),
        "r.present": "1", "r.op": "and", "r_0.present": "1", "r_0.field": "tags", "r_0.match": "all",
        "r_0.tags": [str(book["old"].pk)],
    })
    segment = Segment.objects.get(workspace=workspace, name="老客")
    assert response.status_code == 302 and response["Location"] == reverse("crm:segment_detail", args=[segment.pk])
    assert segment.rule["root"]["children"] == [{"field": "tags", "not": False, "match": "all", "tags": [book["old"].pk]}]
    assert segment.rule_version == 1


def test_an_invalid_rule_is_not_saved_and_the_builder_says_why(owner_client, workspace):
    rule = rule_of({"field": "stage", "values": []})
    response = owner_client.post(reverse("crm:segment_create"), {"name": "空的", "rule": json.dumps(rule)}, **ENGLISH)
    assert response.status_code == 200
    assert not Segment.objects.filter(workspace=workspace).exists()
    assert response.context["tree"]["children"][0]["errors"] == ["Choose at least one."]
    assert "Choose at least one." in response.content.decode()


def test_a_tag_of_another_workspace_is_a_form_error_not_a_leak(owner_client, workspace, outsider):
    foreign = TagFactory(workspace=outsider.workspace, name="别家标签")
    rule = rule_of({"field": "tags", "match": "any", "tags": [foreign.pk]})
    response = owner_client.post(reverse("crm:segment_create"), {"name": "偷看", "rule": json.dumps(rule)}, **ENGLISH)
    assert response.status_code == 200
    assert not Segment.objects.filter(workspace=workspace).exists()
    content = response.content.decode()
    assert f"Unknown tag #{foreign.pk}" in content and "别家标签" not in content


def test_a_duplicate_name_is_a_form_error(owner_client, segment):
    response = owner_client.post(
        reverse("crm:segment_create"), {"name": "老客们", "rule": json.dumps(empty_rule())}, **ENGLISH
    )
    assert response.status_code == 200
    assert "exists already" in response.content.decode()
    assert Segment.objects.filter(name="老客们").count() == 1


def test_editing_a_segment_saves_its_new_rule(owner_client, segment):
    response = owner_client.get(reverse("crm:segment_edit", args=[segment.pk]))
    assert response.status_code == 200 and response.context["preview"]["count"] == 2
    rule = rule_of({"field": "stage", "values": ["vip"]})
    response = owner_client.post(reverse("crm:segment_edit", args=[segment.pk]), {"name": "VIP", "rule": json.dumps(rule)})
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.rule["root"]["children"][0]["values"]) == ("VIP", ["vip"])


def test_a_segment_cannot_be_edited_to_contain_itself(owner_client, segment):
    rule = rule_of({"field": "in_segment", "segment": segment.pk})
    response = owner_client.post(
        reverse("crm:segment_edit", args=[segment.pk]), {"name": "x", "rule": json.dumps(rule)}, **ENGLISH
    )
    assert response.status_code == 200
    assert "cannot contain itself" in response.content.decode()


def test_a_builder_button_without_javascript_edits_the_rule_and_saves_nothing(owner_client, workspace):
    response = owner_client.post(reverse("crm:segment_create"), {
        "name": "草稿", "rule": json.dumps(empty_rule()), "action": "add_condition:r", "r.new_field": "stage",
    })
    assert response.status_code == 200
    assert rule_in(response)["root"]["children"][0]["field"] == "stage"
    assert not Segment.objects.filter(workspace=workspace).exists()
    assert response.context["form"]["name"].value() == "草稿"


def test_any_member_deletes_a_segment(teammate_client, segment):
    assert teammate_client.get(reverse("crm:segment_delete", args=[segment.pk])).status_code == 200
    response = teammate_client.post(reverse("crm:segment_delete", args=[segment.pk]))
    assert response.status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_a_segment_used_by_another_is_not_deleted(owner_client, workspace, segment):
    Segment.objects.create(workspace=workspace, name="用它的", rule=rule_of({"field": "in_segment", "segment": segment.pk}))
    response = owner_client.post(reverse("crm:segment_delete", args=[segment.pk]), follow=True)
    assert Segment.objects.filter(pk=segment.pk).exists()
    assert "用它的" in response.content.decode()


def test_a_script_in_a_segment_name_is_escaped(owner_client, workspace):
    segment = Segment.objects.create(workspace=workspace, name="<script>alert(1)</script>", rule=empty_rule(),
                                     description="<b>x</b>")
    for url in (reverse("crm:segment_list"), reverse("crm:segment_detail", args=[segment.pk]),
                reverse("crm:segment_edit", args=[segment.pk]), reverse("crm:segment_delete", args=[segment.pk])):
        content = owner_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in content and "&lt;script&gt;alert(1)&lt;/script&gt;" in content, url
        assert "<b>x</b>" not in content


# The builder ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [
    "{not json",
    "[1, 2]",
    json.dumps({"version": 1, "root": "everyone"}),
    json.dumps({"version": 1, "root": {"op": "and", "children": ["x", 5, {"field": "birthday"}, {"op": "nand"}]}}),
    json.dumps({"version": 1, "root": {"op": "and", "children": [{"field": "tags", "tags": "abc"}]}}),
    json.dumps({"version": 1, "root": {"op": "and", "children": {"a": 1}}}),
])
def test_the_builder_answers_a_malformed_rule_with_errors_not_a_500(owner_client, book, rule):
    response = builder_post(owner_client, rule)
    assert response.status_code == 200
    assert response.context["preview"]["errors"]
    assert 'class="errorlist"' in response.content.decode()


def test_the_builder_adds_a_condition_of_the_chosen_field(owner_client, book):
    response = builder_post(owner_client, empty_rule(), action="add_condition:r", **{"r.new_field": "last_order"})
    assert rule_in(response)["root"]["children"] == [{"field": "last_order", "not": False, "within_days": 90}]
    assert 'name="r_0.days"' in response.content.decode()


def test_the_builder_adds_a_group_toggles_not_and_removes(owner_client, book):
    rule = rule_in(builder_post(owner_client, empty_rule(), action="add_group:r"))
    assert rule["root"]["children"] == [{"op": "or", "not": False, "children": []}]
    rule = rule_in(builder_post(owner_client, rule, action="toggle_not:r_0"))
    assert rule["root"]["children"][0]["not"] is True
    rule = rule_in(builder_post(owner_client, rule, action="remove:r_0"))
    assert rule["root"]["children"] == []


def test_the_builder_merges_the_inputs_and_previews_the_count_and_first_contacts(owner_client, book):
    rule = rule_of({"field": "tags", "match": "any", "tags": []})
    response = builder_post(owner_client, rule, **{
        "r.present": "1", "r.op": "and", "r_0.present": "1", "r_0.field": "tags", "r_0.match": "any",
        "r_0.tags": str(book["old"].pk),
    })
    assert response.status_code == 200
    assert response.context["preview"]["count"] == 2
    content = response.content.decode()
    assert 'id="segment-preview" hx-swap-oob="true"' in content and "张姐" in content and "王阿姨" not in content


def test_changing_a_conditions_field_starts_it_afresh(owner_client, book):
    rule = rule_of({"field": "tags", "match": "any", "tags": [book["old"].pk]})
    response = builder_post(owner_client, rule, **{"r_0.present": "1", "r_0.field": "account"})
    assert rule_in(response)["root"]["children"] == [{"field": "account", "not": False, "accounts": []}]


def test_a_not_on_an_account_condition_previews_the_other_accounts(owner_client, book):
    rule = rule_of({"field": "account", "not": True, "accounts": [book["one"].pk]})
    response = builder_post(owner_client, rule)
    assert {c.remark_name for c in response.context["preview"]["contacts"]} == {"李哥", "王阿姨"}


def test_the_builder_of_an_existing_segment_refuses_a_cycle(owner_client, segment):
    url = reverse("crm:segment_builder_edit", args=[segment.pk])
    response = builder_post(owner_client, rule_of({"field": "in_segment", "segment": segment.pk}), url=url)
    assert response.status_code == 200
    assert "cannot contain itself" in response.content.decode()


def test_the_builder_is_post_only_and_for_members(owner_client, client):
    assert owner_client.get(reverse("crm:segment_builder")).status_code == 405
    assert client.post(reverse("crm:segment_builder"), {"rule": "{}"}).status_code == 302


def test_every_post_form_on_the_pages_carries_a_csrf_token(owner_client, segment):
    for url in (reverse("crm:segment_create"), reverse("crm:segment_edit", args=[segment.pk]),
                reverse("crm:segment_delete", args=[segment.pk])):
        content = owner_client.get(url).content.decode()
        assert content.count('method="post"') <= content.count("csrfmiddlewaretoken"), url


@pytest.mark.parametrize("field", ["tags", "tag_group", "customer_group", "account", "stage", "source", "added_at",
                                   "referred_by", "order_count", "total_spent", "last_order", "first_order",
                                   "order_channel", "in_segment"])
def test_the_builder_renders_every_condition_type(owner_client, segment, field):
    url = reverse("crm:segment_builder_edit", args=[segment.pk])
    response = builder_post(owner_client, empty_rule(), url=url, action="add_condition:r", **{"r.new_field": field})
    assert response.status_code == 200
    assert rule_in(response)["root"]["children"][0]["field"] == field
    assert f'<option value="{field}" selected>' in response.content.decode()


def test_a_nested_segment_with_a_broken_stored_rule_shows_an_error_not_a_500(owner_client, workspace, segment):
    broken = Segment.objects.create(workspace=workspace, name="坏的", rule={"root": "?"})
    user = Segment.objects.create(workspace=workspace, name="用坏的", rule=rule_of({"field": "in_segment", "segment": broken.pk}))
    assert builder_post(owner_client, user.rule).status_code == 200
    assert owner_client.get(reverse("crm:segment_detail", args=[user.pk])).status_code == 200
    listed = owner_client.get(reverse("crm:segment_list"))
    assert dict(listed.context["rows"])[user] is None


def test_editing_a_segment_whose_stored_rule_is_unreadable_starts_the_builder_again(owner_client, workspace):
    segment = Segment.objects.create(workspace=workspace, name="旧的", rule=[1, 2])
    response = owner_client.get(reverse("crm:segment_edit", args=[segment.pk]), **ENGLISH)
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
