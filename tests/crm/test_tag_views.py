import re

import pytest
from django.urls import reverse

from crm.models import Contact, ContactTag, Tag, TagGroup
from tests.factories import ContactFactory, TagFactory, TagGroupFactory, WorkspaceFactory, tag_contact

pytestmark = pytest.mark.django_db


def _html(response) -> str:
    return response.content.decode()


def _messages(response, level: str) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == level]


# The tag page -----------------------------------------------------------------------------------------------------


def test_the_tag_page_lists_groups_in_position_order_and_ungrouped_tags_last(owner_client, teammate_client, workspace):
    interests = TagGroupFactory(workspace=workspace, name="兴趣爱好", position=2)
    levels = TagGroupFactory(workspace=workspace, name="客户等级", position=1)
    TagFactory(workspace=workspace, name="爱买海参", group=interests)
    TagFactory(workspace=workspace, name="A级", group=levels)
    TagFactory(workspace=workspace, name="未分组的标签")
    for client in (owner_client, teammate_client):
        response = client.get(reverse("crm:tag_list"))
        assert response.status_code == 200
        html = _html(response)
        html = html[html.index('class="card tag-section"'):]  # past the new-tag form and its group choices
        assert html.index("客户等级") < html.index("A级") < html.index("兴趣爱好") < html.index("爱买海参")
        assert html.index("爱买海参") < html.index("未分组的标签")


def test_the_tag_page_shows_how_many_contacts_carry_each_tag(owner_client, workspace):
    sea = TagFactory(workspace=workspace, name="爱买海参")
    idle = TagFactory(workspace=workspace, name="沉睡")
    for _ in range(3):
        tag_contact(ContactFactory(workspace=workspace), sea)
    tag_contact(ContactFactory(workspace=WorkspaceFactory()), TagFactory(name="爱买海参"))
    html = _html(owner_client.get(reverse("crm:tag_list")))
    counts = dict(re.findall(r'href="/\?tags_all=(\d+)" class="tag-count">(\d+)<', html))
    assert counts == {str(sea.pk): "3", str(idle.pk): "0"}


def test_each_tag_links_to_the_contact_list_filtered_by_it(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="爱买海参")
    assert f'href="{reverse("crm:contact_list")}?tags_all={tag.pk}"' in _html(owner_client.get(reverse("crm:tag_list")))


def test_it_hides_other_workspaces_tags(outsider_client, workspace):
    TagFactory(workspace=workspace, name="张姐的秘密标签", group=TagGroupFactory(workspace=workspace, name="张姐的分组"))
    html = _html(outsider_client.get(reverse("crm:tag_list")))
    assert "张姐的秘密标签" not in html and "张姐的分组" not in html


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("crm:tag_list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_staff_see_no_owner_only_buttons(teammate_client, workspace):
    tag = TagFactory(workspace=workspace)
    group = TagGroupFactory(workspace=workspace)
    html = _html(teammate_client.get(reverse("crm:tag_list")))
    for name, pk in (("tag_edit", tag.pk), ("tag_merge", tag.pk), ("tag_delete", tag.pk), ("tag_group_delete", group.pk)):
        assert reverse(f"crm:{name}", args=[pk]) not in html
    assert reverse("crm:tag_group_edit", args=[group.pk]) in html


def test_a_script_in_a_tag_or_group_name_renders_escaped(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="<script>alert('g')</script>")
    tag = TagFactory(workspace=workspace, name="<script>alert(1)</script>", group=group)
    urls = [
        reverse("crm:tag_list"),
        reverse("crm:tag_edit", args=[tag.pk]),
        reverse("crm:tag_merge", args=[tag.pk]),
        reverse("crm:tag_delete", args=[tag.pk]),
        reverse("crm:tag_group_edit", args=[group.pk]),
        reverse("crm:tag_group_delete", args=[group.pk]),
    ]
    for url in urls:
        html = _html(owner_client.get(url))
        assert "<script>alert(" not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _html(owner_client.get(reverse("crm:tag_list")))


# Creating tags ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_owner_and_staff_create_a_tag_in_a_group(request, who, workspace):
    client = request.getfixturevalue(who)
    group = TagGroupFactory(workspace=workspace)
    assert client.get(reverse("crm:tag_create")).status_code == 200
    response = client.post(reverse("crm:tag_create"), {"name": " 爱买  海参 ", "group": group.pk})
    assert response.status_code == 302
    tag = Tag.objects.get(workspace=workspace)
    assert (tag.name, tag.group) == ("爱买 海参", group)


def test_a_duplicate_tag_name_is_a_form_error(owner_client, workspace):
    TagFactory(workspace=workspace, name="老客")
    response = owner_client.post(reverse("crm:tag_create"), {"name": "老客"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert Tag.objects.filter(workspace=workspace).count() == 1


def test_another_workspaces_tag_group_cannot_be_chosen(owner_client, workspace):
    foreign = TagGroupFactory(workspace=WorkspaceFactory())
    response = owner_client.post(reverse("crm:tag_create"), {"name": "A", "group": foreign.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["group"]
    assert not Tag.objects.filter(workspace=workspace).exists()


def test_a_tag_created_by_an_outsider_lands_in_their_own_workspace(outsider_client, outsider, workspace):
    outsider_client.post(reverse("crm:tag_create"), {"name": "外人标签"})
    assert Tag.objects.get(name="外人标签").workspace == outsider.workspace
    assert not Tag.objects.filter(workspace=workspace).exists()


# Renaming and regrouping ------------------------------------------------------------------------------------------


def test_the_owner_renames_a_tag_and_changes_its_group(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="老顾客")
    group = TagGroupFactory(workspace=workspace)
    page = owner_client.get(reverse("crm:tag_edit", args=[tag.pk]))
    assert 'value="老顾客"' in _html(page)
    response = owner_client.post(reverse("crm:tag_edit", args=[tag.pk]), {"name": "老客", "group": group.pk})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.group) == ("老客", group)


def test_renaming_to_an_existing_name_is_a_form_error_suggesting_merge(owner_client, workspace):
    existing = TagFactory(workspace=workspace, name="老客")
    tag = TagFactory(workspace=workspace, name="老顾客")
    response = owner_client.post(reverse("crm:tag_edit", args=[tag.pk]), {"name": "老客"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert f'{reverse("crm:tag_merge", args=[tag.pk])}?target={existing.pk}' in _html(response)
    tag.refresh_from_db()
    assert tag.name == "老顾客"


def test_keeping_a_tags_own_name_is_no_clash(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="老客")
    group = TagGroupFactory(workspace=workspace)
    response = owner_client.post(reverse("crm:tag_edit", args=[tag.pk]), {"name": "老客", "group": group.pk})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert tag.group == group


def test_moving_a_tag_into_an_exclusive_group_warns_about_contacts_holding_two(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级", exclusive=True)
    a = TagFactory(workspace=workspace, name="A", group=group)
    b = TagFactory(workspace=workspace, name="B")
    tag_contact(ContactFactory(workspace=workspace), a, b)
    response = owner_client.post(reverse("crm:tag_edit", args=[b.pk]), {"name": "B", "group": group.pk}, follow=True)
    warnings = _messages(response, "warning")
    assert len(warnings) == 1 and "1" in warnings[0] and "客户等级" in warnings[0]


# Owner-only actions and other workspaces ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tag_edit", "tag_merge", "tag_delete"])
def test_owner_only_tag_actions_are_forbidden_to_staff(teammate_client, workspace, name):
    tag = TagFactory(workspace=workspace, name="老客")
    other = TagFactory(workspace=workspace)
    url = reverse(f"crm:{name}", args=[tag.pk])
    assert teammate_client.get(url).status_code == 403
    assert teammate_client.post(url, {"name": "改名", "target": other.pk}).status_code == 403
    tag.refresh_from_db()
    assert tag.name == "老客"


@pytest.mark.parametrize("name", ["tag_edit", "tag_merge", "tag_delete"])
def test_another_workspaces_tag_is_a_404(outsider_client, outsider, workspace, name):
    tag = TagFactory(workspace=workspace, name="老客")
    own = TagFactory(workspace=outsider.workspace)
    url = reverse(f"crm:{name}", args=[tag.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "改名", "target": own.pk}).status_code == 404
    tag.refresh_from_db()
    assert tag.name == "老客"


@pytest.mark.parametrize("name", ["tag_group_edit", "tag_group_delete"])
def test_another_workspaces_tag_group_is_a_404(outsider_client, workspace, name):
    group = TagGroupFactory(workspace=workspace, name="客户等级")
    url = reverse(f"crm:{name}", args=[group.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "改名", "position": 0}).status_code == 404
    group.refresh_from_db()
    assert group.name == "客户等级"


# Merging ------------------------------------------------------------------------------------------------------------


def test_the_merge_page_shows_the_counts(owner_client, workspace):
    source = TagFactory(workspace=workspace, name="老顾客")
    target = TagFactory(workspace=workspace, name="老客")
    for _ in range(2):
        tag_contact(ContactFactory(workspace=workspace), source)
    for _ in range(5):
        tag_contact(ContactFactory(workspace=workspace), target)
    response = owner_client.get(reverse("crm:tag_merge", args=[source.pk]) + f"?target={target.pk}")
    assert response.status_code == 200
    assert response.context["count"] == 2
    html = _html(response)
    assert re.search(r'id="merge-count">[^<]*\b2\b', html)
    assert re.search(rf'<option value="{target.pk}" selected>老客 \(5\b', html)


def test_merging_moves_contacts_and_deletes_the_source(owner_client, workspace):
    source = TagFactory(workspace=workspace, name="老顾客")
    target = TagFactory(workspace=workspace, name="老客")
    only_source = ContactFactory(workspace=workspace)
    both = ContactFactory(workspace=workspace)
    tag_contact(only_source, source)
    tag_contact(both, source, target)
    response = owner_client.post(reverse("crm:tag_merge", args=[source.pk]), {"target": target.pk})
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=source.pk).exists()
    assert list(only_source.tags.all()) == [target]
    assert list(both.tags.all()) == [target]
    assert ContactTag.objects.filter(tag=target).count() == 2


def test_a_tag_cannot_be_merged_into_another_workspaces_tag(owner_client, workspace):
    source = TagFactory(workspace=workspace)
    foreign = TagFactory(workspace=WorkspaceFactory())
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, source)
    response = owner_client.post(reverse("crm:tag_merge", args=[source.pk]), {"target": foreign.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["target"]
    assert list(contact.tags.all()) == [source]
    assert not ContactTag.objects.filter(tag=foreign).exists()


def test_a_tag_cannot_be_merged_into_itself(owner_client, workspace):
    tag = TagFactory(workspace=workspace)
    response = owner_client.post(reverse("crm:tag_merge", args=[tag.pk]), {"target": tag.pk})
    assert response.status_code == 200
    assert Tag.objects.filter(pk=tag.pk).exists()


# Deleting -----------------------------------------------------------------------------------------------------------


def test_the_delete_page_shows_how_many_contacts_lose_the_tag(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="沉睡")
    for _ in range(4):
        tag_contact(ContactFactory(workspace=workspace), tag)
    response = owner_client.get(reverse("crm:tag_delete", args=[tag.pk]))
    assert response.status_code == 200
    assert response.context["count"] == 4
    assert re.search(r'id="delete-count">[^<]*\b4\b', _html(response))
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_deleting_a_tag_removes_its_links_and_keeps_the_contacts(owner_client, workspace):
    tag = TagFactory(workspace=workspace)
    kept = TagFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, tag, kept)
    response = owner_client.post(reverse("crm:tag_delete", args=[tag.pk]))
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert not ContactTag.objects.filter(tag_id=tag.pk).exists()
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert list(contact.tags.all()) == [kept]


# Tag groups -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner_client", "teammate_client"])
def test_owner_and_staff_create_an_exclusive_tag_group(request, who, workspace):
    client = request.getfixturevalue(who)
    assert client.get(reverse("crm:tag_group_create")).status_code == 200
    response = client.post(reverse("crm:tag_group_create"), {"name": "客户等级", "exclusive": "on", "position": 1})
    assert response.status_code == 302
    group = TagGroup.objects.get(workspace=workspace)
    assert (group.name, group.exclusive, group.position) == ("客户等级", True, 1)


def test_the_exclusive_flag_is_explained_on_the_form(owner_client):
    response = owner_client.get(reverse("crm:tag_group_create"), headers={"accept-language": "en"})
    field = response.context["form"]["exclusive"]
    assert "at most one tag of this group" in str(field.help_text)
    assert str(field.help_text) in _html(response)


def test_a_duplicate_tag_group_name_is_a_form_error(owner_client, workspace):
    TagGroupFactory(workspace=workspace, name="客户等级")
    response = owner_client.post(reverse("crm:tag_group_create"), {"name": "客户等级", "position": 0})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert TagGroup.objects.filter(workspace=workspace).count() == 1


def test_renaming_a_tag_group_onto_another_is_a_form_error(owner_client, workspace):
    TagGroupFactory(workspace=workspace, name="客户等级")
    group = TagGroupFactory(workspace=workspace, name="兴趣")
    response = owner_client.post(reverse("crm:tag_group_edit", args=[group.pk]), {"name": "客户等级", "position": 0})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    group.refresh_from_db()
    assert group.name == "兴趣"


def test_staff_edit_a_tag_group(teammate_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="等级")
    response = teammate_client.post(
        reverse("crm:tag_group_edit", args=[group.pk]), {"name": "客户等级", "exclusive": "on", "position": 4}
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.name, group.exclusive, group.position) == ("客户等级", True, 4)


def test_marking_a_group_exclusive_warns_how_many_contacts_hold_several_of_its_tags(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级")
    a, b = TagFactory(workspace=workspace, group=group), TagFactory(workspace=workspace, group=group)
    tag_contact(ContactFactory(workspace=workspace), a, b)
    tag_contact(ContactFactory(workspace=workspace), a, b)
    tag_contact(ContactFactory(workspace=workspace), a)
    response = owner_client.post(
        reverse("crm:tag_group_edit", args=[group.pk]),
        {"name": "客户等级", "exclusive": "on", "position": 0},
        follow=True,
    )
    warnings = _messages(response, "warning")
    assert len(warnings) == 1 and "2" in warnings[0]
    group.refresh_from_db()
    assert group.exclusive
    assert ContactTag.objects.filter(tag__group=group).count() == 5  # nothing taken off


def test_marking_a_group_exclusive_without_conflicts_gives_no_warning(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级")
    tag_contact(ContactFactory(workspace=workspace), TagFactory(workspace=workspace, group=group))
    response = owner_client.post(
        reverse("crm:tag_group_edit", args=[group.pk]), {"name": "客户等级", "exclusive": "on", "position": 0}, follow=True
    )
    assert _messages(response, "warning") == []


def test_the_owner_deletes_a_tag_group_and_its_tags_become_ungrouped(owner_client, workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级")
    tag = TagFactory(workspace=workspace, name="A级", group=group)
    page = owner_client.get(reverse("crm:tag_group_delete", args=[group.pk]))
    assert page.status_code == 200 and page.context["tag_count"] == 1
    response = owner_client.post(reverse("crm:tag_group_delete", args=[group.pk]))
    assert response.status_code == 302
    assert not TagGroup.objects.filter(pk=group.pk).exists()
    tag.refresh_from_db()
    assert tag.group is None


def test_deleting_a_tag_group_is_forbidden_to_staff(teammate_client, workspace):
    group = TagGroupFactory(workspace=workspace)
    url = reverse("crm:tag_group_delete", args=[group.pk])
    assert teammate_client.get(url).status_code == 403
    assert teammate_client.post(url).status_code == 403
    assert TagGroup.objects.filter(pk=group.pk).exists()


def test_every_post_form_carries_a_csrf_token(owner_client, workspace):
    tag = TagFactory(workspace=workspace)
    group = TagGroupFactory(workspace=workspace)
    urls = [
        reverse("crm:tag_list"), reverse("crm:tag_create"), reverse("crm:tag_edit", args=[tag.pk]),
        reverse("crm:tag_merge", args=[tag.pk]), reverse("crm:tag_delete", args=[tag.pk]),
        reverse("crm:tag_group_create"), reverse("crm:tag_group_edit", args=[group.pk]),
        reverse("crm:tag_group_delete", args=[group.pk]),
    ]
    for url in urls:
        html = _html(owner_client.get(url))
        main = html[html.index("<main"):]
        assert main.count('method="post"') == main.count('name="csrfmiddlewaretoken"'), url
