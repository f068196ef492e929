import pytest
from django.core.exceptions import ValidationError

from crm import selectors, services
from crm.models import ContactTag, Tag, TagGroup
from tests.factories import ContactFactory, TagFactory, TagGroupFactory, WorkspaceFactory, tag_contact

pytestmark = pytest.mark.django_db


def test_tag_create_makes_a_tag_in_the_group(workspace):
    group = TagGroupFactory(workspace=workspace, name="客户等级")
    tag = services.tag_create(workspace=workspace, name="  VIP   客户 ", group=group)
    assert (tag.name, tag.group, tag.workspace) == ("VIP 客户", group, workspace)
    assert tag.slug


def test_tag_create_refuses_a_name_the_workspace_has(workspace):
    TagFactory(workspace=workspace, name="老客")
    with pytest.raises(ValidationError):
        services.tag_create(workspace=workspace, name="老客")
    assert Tag.objects.filter(workspace=workspace).count() == 1


def test_tag_create_allows_a_name_another_workspace_has(workspace):
    TagFactory(workspace=WorkspaceFactory(), name="老客")
    assert services.tag_create(workspace=workspace, name="老客").workspace == workspace


def test_tag_create_refuses_another_workspaces_group(workspace):
    with pytest.raises(ValidationError):
        services.tag_create(workspace=workspace, name="A", group=TagGroupFactory(workspace=WorkspaceFactory()))


def test_tag_update_renames_and_regroups(workspace):
    tag = TagFactory(workspace=workspace, name="老客")
    group = TagGroupFactory(workspace=workspace)
    services.tag_update(tag=tag, name="回头客", group=group)
    tag.refresh_from_db()
    assert (tag.name, tag.group) == ("回头客", group)


def test_tag_update_refuses_a_name_clash_and_changes_nothing(workspace):
    TagFactory(workspace=workspace, name="回头客")
    tag = TagFactory(workspace=workspace, name="老客")
    group = TagGroupFactory(workspace=workspace)
    with pytest.raises(ValidationError) as error:
        services.tag_update(tag=tag, name="回头客", group=group)
    assert "回头客" in error.value.messages[0]
    tag.refresh_from_db()
    assert (tag.name, tag.group) == ("老客", None)


def test_tag_update_refuses_another_workspaces_group(workspace):
    tag = TagFactory(workspace=workspace)
    with pytest.raises(ValidationError):
        services.tag_update(tag=tag, name=tag.name, group=TagGroupFactory(workspace=WorkspaceFactory()))


def test_tag_merge_moves_contacts_and_deletes_the_source(workspace):
    source = TagFactory(workspace=workspace, name="老顾客")
    target = TagFactory(workspace=workspace, name="老客")
    only_source, both, only_target = (ContactFactory(workspace=workspace) for _ in range(3))
    tag_contact(only_source, source)
    tag_contact(both, source, target)
    tag_contact(only_target, target)
    services.tag_merge(source=source, target=target)
    assert not Tag.objects.filter(pk=source.pk).exists()
    for contact in (only_source, both, only_target):
        assert list(ContactTag.objects.filter(content_object=contact).values_list("tag_id", flat=True)) == [target.pk]


def test_tag_group_create_refuses_a_duplicate_name(workspace):
    TagGroupFactory(workspace=workspace, name="客户等级")
    with pytest.raises(ValidationError):
        services.tag_group_create(workspace=workspace, name="客户等级")


def test_tag_group_update_saves_the_exclusive_flag_and_position(workspace):
    group = TagGroupFactory(workspace=workspace, name="等级")
    services.tag_group_update(group=group, name="客户等级", exclusive=True, position=3)
    group.refresh_from_db()
    assert (group.name, group.exclusive, group.position) == ("客户等级", True, 3)


def test_tag_group_delete_keeps_its_tags_ungrouped_and_on_their_contacts(workspace):
    group = TagGroupFactory(workspace=workspace)
    tag = TagFactory(workspace=workspace, group=group)
    contact = ContactFactory(workspace=workspace)
    tag_contact(contact, tag)
    services.tag_group_delete(group=group)
    assert not TagGroup.objects.filter(pk=group.pk).exists()
    tag.refresh_from_db()
    assert tag.group is None
    assert ContactTag.objects.filter(content_object=contact, tag=tag).exists()


def test_the_overview_lists_groups_by_position_then_ungrouped_tags_with_counts(workspace):
    later = TagGroupFactory(workspace=workspace, name="兴趣", position=2)
    first = TagGroupFactory(workspace=workspace, name="等级", position=1)
    empty = TagGroupFactory(workspace=workspace, name="空组", position=5)
    a = TagFactory(workspace=workspace, name="A", group=first)
    sea = TagFactory(workspace=workspace, name="海参", group=later)
    loose = TagFactory(workspace=workspace, name="散标签")
    TagFactory(workspace=WorkspaceFactory(), name="别家标签")
    for _ in range(3):
        tag_contact(ContactFactory(workspace=workspace), a)
    tag_contact(ContactFactory(workspace=workspace), sea)

    sections = selectors.tag_overview(workspace=workspace)

    assert [s.group for s in sections] == [first, later, empty, None]
    assert [[t.name for t in s.tags] for s in sections] == [["A"], ["海参"], [], ["散标签"]]
    counts = {t.pk: t.contact_count for s in sections for t in s.tags}
    assert counts == {a.pk: 3, sea.pk: 1, loose.pk: 0}


def test_the_overview_leaves_out_the_ungrouped_section_when_every_tag_has_a_group(workspace):
    TagFactory(workspace=workspace, group=TagGroupFactory(workspace=workspace))
    assert [s.group for s in selectors.tag_overview(workspace=workspace)][-1] is not None


def test_the_conflict_count_is_the_contacts_holding_two_or_more_tags_of_the_group(workspace):
    group = TagGroupFactory(workspace=workspace)
    a, b, c = (TagFactory(workspace=workspace, group=group) for _ in range(3))
    outside = TagFactory(workspace=workspace)
    tag_contact(ContactFactory(workspace=workspace), a, b)
    tag_contact(ContactFactory(workspace=workspace), a, b, c)
    tag_contact(ContactFactory(workspace=workspace), a, outside)
    tag_contact(ContactFactory(workspace=workspace), c)
    assert selectors.tag_group_conflict_count(group=group) == 2
