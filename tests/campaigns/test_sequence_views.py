"""The follow-up sequence pages and the follow-up tasks as owner, teammate and outsider: build a sequence with its
steps, switch it on and off, enrol a segment by hand, and mark tasks done."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import sequence_services
from campaigns.models import Enrolment, FollowUpTask, Sequence, SequenceStep, StepRun
from crm.models import Member, Segment
from tests.conftest import client_for
from tests.factories import ContactFactory, CustomerGroupFactory, MemberFactory, TagFactory, WeChatAccountFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
HTMX = {"HTTP_HX_REQUEST": "true"}
EVERYONE = {"version": 1, "root": {"op": "and", "children": []}}


def html(response) -> str:
    return response.content.decode()


def steps_data(*steps, existing=0) -> dict:
    data = {
        "steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": str(existing),
        "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
    }
    for index, step in enumerate(steps):
        row = {"wait_days": "0", "wait_hours": "0", "action": "message", "text": "", "tag": "", "task_note": "", **step}
        data.update({f"steps-{index}-{key}": value for key, value in row.items()})
    return data


def sequence_data(*steps, **fields) -> dict:
    return {"name": "新客跟进", "trigger": "contact_added", **fields, **steps_data(*steps)}


def make_sequence(workspace, *, active=True, steps=1, **fields) -> Sequence:
    sequence = Sequence.objects.create(
        workspace=workspace, name="新客跟进", trigger=Sequence.Trigger.CONTACT_ADDED, active=active, **fields
    )
    for position in range(steps):
        SequenceStep.objects.create(sequence=sequence, position=position, action="message", text=f"第{position + 1}条",
                                    wait_days=position)
    return sequence


@pytest.fixture
def sequence(workspace):
    return make_sequence(workspace)


# Who may open the pages ---------------------------------------------------------------------------------------------


def page_urls(sequence) -> list[str]:
    return [
        reverse("campaigns:sequence_list"),
        reverse("campaigns:sequence_create"),
        reverse("campaigns:sequence_detail", args=[sequence.pk]),
        reverse("campaigns:sequence_edit", args=[sequence.pk]),
        reverse("campaigns:task_list"),
    ]


def test_the_owner_and_a_teammate_open_every_sequence_page(owner_client, teammate_client, sequence):
    for client in (owner_client, teammate_client):
        for url in page_urls(sequence):
            assert client.get(url, **ENGLISH).status_code == 200, url


def test_an_outsider_gets_a_404_for_another_workspaces_sequence(outsider_client, sequence):
    for name in ("sequence_detail", "sequence_edit"):
        assert outsider_client.get(reverse(f"campaigns:{name}", args=[sequence.pk])).status_code == 404
    for name in ("sequence_activate", "sequence_deactivate", "sequence_enrol"):
        assert outsider_client.post(reverse(f"campaigns:{name}", args=[sequence.pk])).status_code == 404
    sequence.refresh_from_db()
    assert sequence.active


def test_an_outsider_sees_neither_the_sequence_nor_its_tasks_in_their_lists(outsider_client, sequence, workspace):
    contact = ContactFactory(workspace=workspace)
    task = FollowUpTask.objects.create(workspace=workspace, contact=contact, note="打电话回访", due_on=date.today())
    assert "新客跟进" not in html(outsider_client.get(reverse("campaigns:sequence_list")))
    assert "打电话回访" not in html(outsider_client.get(reverse("campaigns:task_list")))
    assert outsider_client.post(reverse("campaigns:task_done", args=[task.pk])).status_code == 404
    task.refresh_from_db()
    assert task.done_at is None


def test_a_signed_out_visitor_is_sent_to_sign_in(client, sequence):
    assert client.get(reverse("campaigns:sequence_list")).status_code == 302


# The list ------------------------------------------------------------------------------------------------------------


def test_the_list_shows_the_trigger_and_the_counts_of_each_sequence(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="新客")
    sequence = make_sequence(workspace, trigger_tag=tag)
    Sequence.objects.filter(pk=sequence.pk).update(trigger=Sequence.Trigger.TAG_ADDED)
    contacts = [ContactFactory(workspace=workspace) for _ in range(4)]
    statuses = [Enrolment.Status.ACTIVE, Enrolment.Status.ACTIVE, Enrolment.Status.COMPLETED, Enrolment.Status.EXITED]
    for contact, status in zip(contacts, statuses):
        Enrolment.objects.create(workspace=workspace, sequence=sequence, contact=contact, status=status)
    response = owner_client.get(reverse("campaigns:sequence_list"), **ENGLISH)
    page = html(response)
    row = page[page.index(f'id="sequence-{sequence.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Tag added" in row and "新客" in row and "Active" in row
    assert '<td class="num" data-count="active">2</td>' in row
    assert '<td class="num" data-count="completed">1</td>' in row
    assert '<td class="num" data-count="exited">1</td>' in row


def test_the_list_counts_enrolments_in_one_query_whatever_the_number_of_sequences(
    owner_client, workspace, django_assert_max_num_queries
):
    for _ in range(5):
        make_sequence(workspace)
    owner_client.get(reverse("campaigns:sequence_list"))  # warm the session and the member
    with django_assert_max_num_queries(12):
        assert owner_client.get(reverse("campaigns:sequence_list")).status_code == 200


def test_the_broadcast_list_links_to_the_sequences_and_the_tasks(owner_client):
    page = html(owner_client.get(reverse("campaigns:broadcast_list"), **ENGLISH))
    assert reverse("campaigns:sequence_list") in page
    assert reverse("campaigns:task_list") in page


def test_the_sequence_list_is_in_chinese_by_default(owner_client, sequence):
    page = html(owner_client.get(reverse("campaigns:sequence_list")))
    assert "跟进序列" in page
    assert "Follow-up sequences" not in page


# Create and edit -----------------------------------------------------------------------------------------------------


def test_creating_a_sequence_saves_its_steps_in_order(owner_client, workspace):
    tag = TagFactory(workspace=workspace, name="已欢迎")
    data = sequence_data(
        {"text": "{备注名}，欢迎！"},
        {"wait_days": "1", "action": "add_tag", "tag": str(tag.pk)},
        {"wait_days": "3", "wait_hours": "2", "action": "task", "task_note": "打电话回访"},
        exit_on_order="on",
    )
    response = owner_client.post(reverse("campaigns:sequence_create"), data, **ENGLISH)
    sequence = Sequence.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:sequence_detail", args=[sequence.pk])
    assert sequence.exit_on_order and not sequence.active
    steps = list(sequence.steps.all())
    assert [(s.position, s.action) for s in steps] == [(0, "message"), (1, "add_tag"), (2, "task")]
    assert steps[0].text == "{备注名}，欢迎！"
    assert steps[1].tag == tag and steps[1].wait_days == 1
    assert (steps[2].task_note, steps[2].wait_days, steps[2].wait_hours) == ("打电话回访", 3, 2)


def test_a_blank_extra_step_row_is_ignored(owner_client, workspace):
    data = sequence_data({"text": "你好"}, {"action": ""})
    assert owner_client.post(reverse("campaigns:sequence_create"), data).status_code == 302
    assert SequenceStep.objects.filter(sequence__workspace=workspace).count() == 1


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ({"action": "message", "text": ""}, "text", "A message step needs the text to send."),
        ({"action": "add_tag"}, "tag", "An add-tag step needs the tag to add."),
        ({"action": "task", "task_note": ""}, "task_note", "A task step needs a note saying what to do."),
        ({"action": "message", "text": "x", "wait_hours": "30"}, "wait_hours",
         "Enter at most 23 hours; use the days for longer waits."),
    ],
)
def test_an_incomplete_step_is_a_form_error_not_a_crash(owner_client, workspace, step, field, message):
    response = owner_client.post(reverse("campaigns:sequence_create"), sequence_data(step), **ENGLISH)
    assert response.status_code == 400
    assert message in response.context["formset"].forms[0].errors[field]
    assert not Sequence.objects.filter(workspace=workspace).exists()


def test_a_tag_trigger_without_its_tag_is_a_form_error(owner_client, workspace):
    response = owner_client.post(
        reverse("campaigns:sequence_create"), sequence_data({"text": "你好"}, trigger="tag_added"), **ENGLISH
    )
    assert response.status_code == 400
    assert "Choose the tag that starts the sequence." in response.context["form"].errors["trigger_tag"]


def test_the_no_order_trigger_needs_its_days(owner_client, workspace):
    response = owner_client.post(
        reverse("campaigns:sequence_create"), sequence_data({"text": "你好"}, trigger="no_order_for"), **ENGLISH
    )
    assert response.status_code == 400
    assert "trigger_days" in response.context["form"].errors
    ok = sequence_data({"text": "好久不见"}, trigger="no_order_for", trigger_days="30")
    assert owner_client.post(reverse("campaigns:sequence_create"), ok).status_code == 302
    assert Sequence.objects.get(workspace=workspace).trigger_days == 30


def test_another_workspaces_tag_is_refused_in_a_step_and_in_the_trigger(owner_client, workspace):
    foreign = TagFactory(workspace=WorkspaceFactory(), name="别家标签")
    group = CustomerGroupFactory(workspace=WorkspaceFactory())
    attempts = [
        sequence_data({"action": "add_tag", "tag": str(foreign.pk)}),
        sequence_data({"text": "你好"}, trigger="tag_added", trigger_tag=str(foreign.pk)),
        sequence_data({"text": "你好"}, exit_tag=str(foreign.pk)),
        sequence_data({"text": "你好"}, trigger="group_joined", trigger_group=str(group.pk)),
    ]
    for data in attempts:
        response = owner_client.post(reverse("campaigns:sequence_create"), data, **ENGLISH)
        assert response.status_code == 400
    assert not Sequence.objects.filter(workspace=workspace).exists()
    assert "别家标签" not in html(owner_client.get(reverse("campaigns:sequence_create")))


def test_the_service_refuses_another_workspaces_tag_too(workspace):
    foreign = TagFactory(workspace=WorkspaceFactory())
    with pytest.raises(Exception, match="does not belong"):
        sequence_services.sequence_save(
            workspace=workspace, sequence=None,
            fields={"name": "x", "trigger": "contact_added"},
            steps=[{"id": None, "action": "add_tag", "tag": foreign}],
        )


def test_a_teammate_edits_a_sequence_changing_removing_and_adding_steps(teammate_client, workspace):
    sequence = make_sequence(workspace, steps=2, active=False)
    first, second = sequence.steps.all()
    data = {
        "name": "改过的名字", "trigger": "order_placed",
        **steps_data(
            {"id": str(first.pk), "sequence": str(sequence.pk), "text": "改过的第一条"},
            {"id": str(second.pk), "sequence": str(sequence.pk), "text": "第2条", "DELETE": "on"},
            {"action": "task", "task_note": "寄样品", "wait_days": "2"},
            existing=2,
        ),
    }
    response = teammate_client.post(reverse("campaigns:sequence_edit", args=[sequence.pk]), data, **ENGLISH)
    assert response.status_code == 302
    sequence.refresh_from_db()
    assert (sequence.name, sequence.trigger) == ("改过的名字", "order_placed")
    steps = list(sequence.steps.all())
    assert [(s.pk == first.pk, s.position, s.action) for s in steps] == [(True, 0, "message"), (False, 1, "task")]
    assert steps[0].text == "改过的第一条"
    assert not SequenceStep.objects.filter(pk=second.pk).exists()


def test_the_edit_page_of_an_active_sequence_says_people_continue_from_their_step(owner_client, sequence):
    page = html(owner_client.get(reverse("campaigns:sequence_edit", args=[sequence.pk]), **ENGLISH))
    assert "continue from their current step number" in page


def test_an_active_sequence_cannot_lose_all_its_steps(owner_client, workspace, sequence):
    step = sequence.steps.get()
    data = {"name": "新客跟进", "trigger": "contact_added",
            **steps_data({"id": str(step.pk), "sequence": str(sequence.pk), "text": "x", "DELETE": "on"}, existing=1)}
    response = owner_client.post(reverse("campaigns:sequence_edit", args=[sequence.pk]), data, **ENGLISH)
    assert response.status_code == 400
    assert "at least one step" in html(response)
    assert sequence.steps.count() == 1


# Activate and deactivate ---------------------------------------------------------------------------------------------


def test_activating_switches_the_sequence_on(teammate_client, workspace):
    sequence = make_sequence(workspace, active=False)
    response = teammate_client.post(reverse("campaigns:sequence_activate", args=[sequence.pk]))
    assert response.status_code == 302
    sequence.refresh_from_db()
    assert sequence.active


def test_a_sequence_without_steps_cannot_be_activated(owner_client, workspace):
    sequence = make_sequence(workspace, active=False, steps=0)
    response = owner_client.post(reverse("campaigns:sequence_activate", args=[sequence.pk]), follow=True, **ENGLISH)
    assert "Add at least one step before activating the sequence." in html(response)
    sequence.refresh_from_db()
    assert not sequence.active


def test_deactivating_stops_everyone_in_the_sequence(owner_client, workspace, sequence):
    contacts = [ContactFactory(workspace=workspace) for _ in range(3)]
    from campaigns import sequences

    assert sequences.enrol(sequence=sequence, contact_ids=[c.pk for c in contacts]) == 3
    response = owner_client.post(reverse("campaigns:sequence_deactivate", args=[sequence.pk]))
    assert response.status_code == 302
    sequence.refresh_from_db()
    assert not sequence.active
    assert set(Enrolment.objects.filter(sequence=sequence).values_list("status", "exit_reason")) == {
        (Enrolment.Status.EXITED, Enrolment.ExitReason.SEQUENCE_STOPPED)
    }


def test_activate_and_deactivate_accept_only_post(owner_client, sequence):
    assert owner_client.get(reverse("campaigns:sequence_deactivate", args=[sequence.pk])).status_code == 405
    assert owner_client.get(reverse("campaigns:sequence_activate", args=[sequence.pk])).status_code == 405


# The detail page and enrolling a segment ------------------------------------------------------------------------------


def test_the_detail_page_counts_who_waits_at_each_step_and_lists_the_runs(owner_client, workspace):
    sequence = make_sequence(workspace, steps=2)
    contacts = [ContactFactory(workspace=workspace, remark_name=f"客{n}") for n in range(3)]
    enrolments = [
        Enrolment.objects.create(workspace=workspace, sequence=sequence, contact=c, step_index=index)
        for c, index in zip(contacts, [0, 1, 1])
    ]
    first = sequence.steps.first()
    StepRun.objects.create(enrolment=enrolments[1], step=first, status=StepRun.Status.FAILED, error="account offline")
    page = html(owner_client.get(reverse("campaigns:sequence_detail", args=[sequence.pk]), **ENGLISH))
    assert '<td class="num" data-waiting="0">1</td>' in page
    assert '<td class="num" data-waiting="1">2</td>' in page
    assert "account offline" in page and "Failed" in page and "客1" in page


def test_the_runs_are_paged_and_served_as_a_fragment_to_htmx(owner_client, workspace, sequence):
    response = owner_client.get(
        reverse("campaigns:sequence_detail", args=[sequence.pk]), HTTP_HX_TARGET="step-runs", **HTMX, **ENGLISH
    )
    assert response.status_code == 200
    assert "<html" not in html(response)
    assert 'id="runs-table"' in html(response)


def test_enrolling_a_segment_enrols_exactly_its_contacts(teammate_client, workspace, sequence):
    vip = TagFactory(workspace=workspace, name="VIP")
    inside = [ContactFactory(workspace=workspace) for _ in range(3)]
    outside = [ContactFactory(workspace=workspace) for _ in range(2)]
    from tests.factories import tag_contact

    for contact in inside:
        tag_contact(contact, vip)
    segment = Segment.objects.create(workspace=workspace, name="VIP 客户", rule={
        "version": 1, "root": {"op": "and", "children": [{"field": "tags", "match": "any", "tags": [vip.pk]}]},
    })
    response = teammate_client.post(reverse("campaigns:sequence_enrol", args=[sequence.pk]), {"segment": segment.pk})
    assert response.status_code == 302
    enrolled = set(Enrolment.objects.filter(sequence=sequence).values_list("contact_id", flat=True))
    assert enrolled == {c.pk for c in inside}
    assert not enrolled & {c.pk for c in outside}


def test_another_workspaces_segment_cannot_be_enrolled(owner_client, workspace, sequence):
    ContactFactory(workspace=workspace)
    foreign = Segment.objects.create(workspace=WorkspaceFactory(), name="别家", rule=EVERYONE)
    response = owner_client.post(
        reverse("campaigns:sequence_enrol", args=[sequence.pk]), {"segment": foreign.pk}, follow=True, **ENGLISH
    )
    assert "Choose one of your saved segments." in html(response)
    assert not Enrolment.objects.exists()


def test_an_inactive_sequence_enrols_nobody_by_hand(owner_client, workspace):
    sequence = make_sequence(workspace, active=False)
    ContactFactory(workspace=workspace)
    segment = Segment.objects.create(workspace=workspace, name="全部", rule=EVERYONE)
    response = owner_client.post(
        reverse("campaigns:sequence_enrol", args=[sequence.pk]), {"segment": segment.pk}, follow=True, **ENGLISH
    )
    assert "Activate the sequence first" in html(response)
    assert not Enrolment.objects.exists()


def test_a_segment_over_the_limit_is_refused_with_a_clear_message(owner_client, workspace, sequence, monkeypatch):
    monkeypatch.setattr(sequence_services, "ENROL_MAX", 2)
    for _ in range(3):
        ContactFactory(workspace=workspace)
    segment = Segment.objects.create(workspace=workspace, name="全部", rule=EVERYONE)
    response = owner_client.post(
        reverse("campaigns:sequence_enrol", args=[sequence.pk]), {"segment": segment.pk}, follow=True, **ENGLISH
    )
    assert "This segment has more than 2 contacts" in html(response)
    assert not Enrolment.objects.exists()


def test_enrolling_goes_in_batches(workspace, sequence, owner, monkeypatch):
    monkeypatch.setattr(sequence_services, "ENROL_BATCH", 2)
    contacts = [ContactFactory(workspace=workspace) for _ in range(5)]
    segment = Segment.objects.create(workspace=workspace, name="全部", rule=EVERYONE)
    assert sequence_services.sequence_enrol_segment(sequence=sequence, segment=segment, member=owner) == 5
    assert Enrolment.objects.filter(sequence=sequence).count() == len(contacts)


# Follow-up tasks -----------------------------------------------------------------------------------------------------


@pytest.fixture
def task(workspace):
    contact = ContactFactory(workspace=workspace, remark_name="王姐")
    return FollowUpTask.objects.create(workspace=workspace, contact=contact, note="打电话回访", due_on=date.today())


def test_the_task_list_shows_open_tasks_with_their_contact(owner_client, teammate_client, task, workspace):
    FollowUpTask.objects.create(workspace=workspace, contact=task.contact, note="早已完成", due_on=date.today(),
                                done_at=timezone.now())
    for client in (owner_client, teammate_client):
        page = html(client.get(reverse("campaigns:task_list"), **ENGLISH))
        assert "打电话回访" in page and "王姐" in page
        assert reverse("crm:contact_detail", args=[task.contact_id]) in page
        assert "早已完成" not in page


def test_a_task_is_marked_done_once(owner_client, teammate_client, owner, task):
    url = reverse("campaigns:task_done", args=[task.pk])
    response = owner_client.post(url, **HTMX, **ENGLISH)
    assert response.status_code == 200
    assert "Done" in html(response)
    task.refresh_from_db()
    done_at = task.done_at
    assert done_at is not None and task.done_by == owner.user

    again = teammate_client.post(url, **HTMX, **ENGLISH)
    assert "Done already" in html(again)
    task.refresh_from_db()
    assert (task.done_at, task.done_by) == (done_at, owner.user)
    assert "打电话回访" not in html(owner_client.get(reverse("campaigns:task_list")))


def test_marking_a_task_done_without_htmx_redirects_to_the_list(owner_client, task):
    response = owner_client.post(reverse("campaigns:task_done", args=[task.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:task_list")


def test_a_limited_teammate_sees_only_their_accounts_tasks(workspace):
    mine, theirs = (WeChatAccountFactory(workspace=workspace, name=n) for n in ("一号", "二号"))
    member = MemberFactory(workspace=workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    member.assigned_accounts.add(mine)
    my_task = FollowUpTask.objects.create(
        workspace=workspace, contact=ContactFactory(workspace=workspace, owner_account=mine), note="我的任务",
        due_on=date.today(),
    )
    other_task = FollowUpTask.objects.create(
        workspace=workspace, contact=ContactFactory(workspace=workspace, owner_account=theirs), note="别人的任务",
        due_on=date.today(),
    )
    client = client_for(member)
    page = html(client.get(reverse("campaigns:task_list")))
    assert "我的任务" in page and "别人的任务" not in page
    assert client.post(reverse("campaigns:task_done", args=[other_task.pk])).status_code == 404
    assert client.post(reverse("campaigns:task_done", args=[my_task.pk])).status_code == 302
    other_task.refresh_from_db()
    assert other_task.done_at is None

