"""Follow-up sequences: triggers, exits, and the tick that runs each step once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import sequences
from campaigns.models import Enrolment, FollowUpTask, Sequence, SequenceStep, StepRun
from crm import services as crm_services
from crm import wechat
from crm.models import ContactTag, ManualSend, OutboxMessage, WeChatAccount
from tests.factories import ContactFactory, CustomerGroupFactory, OrderFactory, TagFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service as a request would: the events it emits reach the sequences after the commit."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def sequence_of(workspace, *steps, trigger=Sequence.Trigger.TAG_ADDED, **fields) -> Sequence:
    sequence = Sequence.objects.create(workspace=workspace, name="新客跟进", trigger=trigger, active=True, **fields)
    for position, step in enumerate(steps):
        SequenceStep.objects.create(sequence=sequence, position=position, **step)
    return sequence


def message(text, **wait):
    return {"action": SequenceStep.Action.MESSAGE, "text": text, **wait}


@pytest.fixture
def new_buyer_tag(workspace):
    return TagFactory(workspace=workspace, name="新客")


@pytest.fixture
def welcome(workspace, new_buyer_tag):
    """Tag 新客 → at once: a welcome; a day later: a tag 已欢迎; three days later: a task to call."""
    return sequence_of(
        workspace,
        message("{备注名}，欢迎！"),
        {"action": SequenceStep.Action.ADD_TAG, "tag": TagFactory(workspace=workspace, name="已欢迎"), "wait_days": 1},
        {"action": SequenceStep.Action.TASK, "task_note": "打电话回访", "wait_days": 3},
        trigger_tag=new_buyer_tag,
    )


@pytest.fixture
def customer(workspace, outbox_account):
    return ContactFactory(workspace=workspace, owner_account=outbox_account, remark_name="王姐")


def tag(contact, tag_, committed, actor=None):
    committed(lambda: crm_services.contacts_tag(workspace=contact.workspace, contact_ids=[contact.pk], add=[tag_], actor=actor))


def test_a_tag_enrols_the_contact_and_each_step_runs_when_due(committed, welcome, new_buyer_tag, customer):
    start = timezone.now()
    tag(customer, new_buyer_tag, committed)
    enrolment = Enrolment.objects.get(contact=customer)
    assert sequences.sequences_tick(at=start + timedelta(seconds=1)) == 1
    assert OutboxMessage.objects.get(contact=customer).text == "王姐，欢迎！"

    assert sequences.sequences_tick(at=start + DAY / 2) == 0  # the tag waits a day
    committed(lambda: sequences.sequences_tick(at=start + DAY + timedelta(seconds=2)))
    assert ContactTag.objects.filter(content_object=customer, tag__name="已欢迎").exists()

    sequences.sequences_tick(at=start + 4 * DAY + timedelta(seconds=3))
    assert FollowUpTask.objects.get(contact=customer).note == "打电话回访"
    enrolment.refresh_from_db()
    assert enrolment.status == Enrolment.Status.COMPLETED
    assert StepRun.objects.filter(enrolment=enrolment).count() == 3


def test_a_tick_run_again_repeats_no_step(welcome, new_buyer_tag, customer, committed):
    tag(customer, new_buyer_tag, committed)
    enrolment = Enrolment.objects.get(contact=customer)
    due = timezone.now() + timedelta(seconds=1)
    sequences.sequences_tick(at=due)
    # A tick that died after sending but before moving the enrolment on: the same step is due again.
    Enrolment.objects.filter(pk=enrolment.pk).update(step_index=0, next_run_at=due)
    sequences.sequences_tick(at=due)
    assert OutboxMessage.objects.filter(contact=customer).count() == 1
    assert StepRun.objects.filter(enrolment=enrolment).count() == 1


def test_tagging_again_while_enrolled_does_not_enrol_twice(welcome, new_buyer_tag, customer, committed):
    tag(customer, new_buyer_tag, committed)
    sequences.enrol(sequence=welcome, contact_ids=[customer.pk])
    assert Enrolment.objects.filter(contact=customer).count() == 1


def test_an_order_stops_a_sequence_that_exits_on_order(workspace, committed, customer, owner):
    reminder = sequence_of(workspace, message("还需要吗？", wait_days=2), trigger=Sequence.Trigger.CONTACT_ADDED,
                           exit_on_order=True)
    sequences.enrol(sequence=reminder, contact_ids=[customer.pk])
    committed(lambda: crm_services.order_create(contact=customer, amount=Decimal("99"), placed_at=timezone.now(),
                                                channel="wechat", actor=owner.user))
    enrolment = Enrolment.objects.get(contact=customer)
    assert (enrolment.status, enrolment.exit_reason) == (Enrolment.Status.EXITED, Enrolment.ExitReason.ORDERED)
    assert sequences.sequences_tick(at=timezone.now() + 3 * DAY) == 0
    assert not OutboxMessage.objects.exists()


def test_the_exit_tag_stops_the_sequence(workspace, welcome, new_buyer_tag, customer, committed):
    done = TagFactory(workspace=workspace, name="已成交")
    Sequence.objects.filter(pk=welcome.pk).update(exit_tag=done)
    tag(customer, new_buyer_tag, committed)
    tag(customer, done, committed)
    assert Enrolment.objects.get(contact=customer).exit_reason == Enrolment.ExitReason.TAG_ADDED


def test_an_opted_out_contact_leaves_every_sequence_and_is_never_enrolled_again(welcome, new_buyer_tag, customer, committed):
    tag(customer, new_buyer_tag, committed)
    committed(lambda: crm_services.contact_opt_out(contact=customer, actor=None))
    assert Enrolment.objects.get(contact=customer).exit_reason == Enrolment.ExitReason.OPTED_OUT
    assert sequences.enrol(sequence=welcome, contact_ids=[customer.pk]) == 0
    assert sequences.sequences_tick(at=timezone.now() + DAY) == 0
    assert not OutboxMessage.objects.exists()


def test_a_new_contact_and_a_group_join_start_their_sequences(workspace, committed, outbox_account, owner):
    hello = sequence_of(workspace, message("你好"), trigger=Sequence.Trigger.CONTACT_ADDED)
    group = CustomerGroupFactory(workspace=workspace)
    joined = sequence_of(workspace, message("欢迎进群"), trigger=Sequence.Trigger.GROUP_JOINED, trigger_group=group)
    contact = committed(lambda: crm_services.contact_create(
        workspace=workspace, actor=owner.user, nickname="新朋友", owner_account=outbox_account))
    assert Enrolment.objects.filter(sequence=hello, contact=contact).exists()
    committed(lambda: crm_services.customer_group_members_add(group=group, contact_ids=[contact.pk], actor=owner.user))
    assert Enrolment.objects.filter(sequence=joined, contact=contact).exists()


def test_no_order_for_n_days_enrols_lapsed_buyers_once_per_lapse(workspace, customer):
    lapse = sequence_of(workspace, message("好久不见"), trigger=Sequence.Trigger.NO_ORDER_FOR, trigger_days=30)
    recent = ContactFactory(workspace=workspace)
    never = ContactFactory(workspace=workspace)  # never ordered: not a repurchase reminder
    now = timezone.now()
    OrderFactory(contact=customer, placed_at=now - 40 * DAY)
    OrderFactory(contact=recent, placed_at=now - 5 * DAY)
    assert sequences.enrol_lapsed_customers(sequence=lapse, at=now) == 1
    assert set(Enrolment.objects.values_list("contact_id", flat=True)) == {customer.pk}
    sequences.sequences_tick(at=now + timedelta(seconds=1))
    assert sequences.enrol_lapsed_customers(sequence=lapse, at=now + 2 * DAY) == 0  # reminded for this lapse
    assert never.pk not in Enrolment.objects.values_list("contact_id", flat=True)


def test_a_sequence_never_enrols_another_workspaces_contacts(welcome, committed):
    stranger = ContactFactory(workspace=WorkspaceFactory())
    assert sequences.enrol(sequence=welcome, contact_ids=[stranger.pk]) == 0


def test_stopping_a_sequence_takes_everyone_out(welcome, new_buyer_tag, customer, committed):
    tag(customer, new_buyer_tag, committed)
    assert sequences.sequence_stop(sequence=welcome) == 1
    assert sequences.sequences_tick(at=timezone.now() + DAY) == 0


def test_through_the_manual_channel_a_step_waits_on_the_staffs_card(welcome, new_buyer_tag, customer, outbox_account, committed, owner):
    WeChatAccount.objects.filter(pk=outbox_account.pk).update(channel=WeChatAccount.Channel.MANUAL)
    tag(customer, new_buyer_tag, committed)
    sequences.sequences_tick(at=timezone.now() + timedelta(seconds=1))
    run = StepRun.objects.get()
    assert run.status == StepRun.Status.PENDING
    wechat.manual_send_mark(send=ManualSend.objects.get(), status=ManualSend.Status.SENT, actor=owner.user)
    run.refresh_from_db()
    assert run.status == StepRun.Status.DONE


def test_a_step_that_fails_after_the_send_is_marked_failed_with_the_reason(welcome, new_buyer_tag, customer, outbox_account, committed):
    # WeCom reports its final results days later: "not a friend", "already got one today".
    WeChatAccount.objects.filter(pk=outbox_account.pk).update(channel=WeChatAccount.Channel.MANUAL)
    tag(customer, new_buyer_tag, committed)
    sequences.sequences_tick(at=timezone.now() + timedelta(seconds=1))
    ref = ManualSend.objects.get().ref
    wechat.report_results([wechat.Result(ref, wechat.Outcome.FAILED, "The customer is not a friend.")])
    run = StepRun.objects.get()
    assert (run.status, run.error) == (StepRun.Status.FAILED, "The customer is not a friend.")
    wechat.report_results([wechat.Result(ref, wechat.Outcome.SENT)])  # a final result stays final
    run.refresh_from_db()
    assert run.status == StepRun.Status.FAILED


def test_due_steps_are_taken_in_batches(workspace, new_buyer_tag, outbox_account, committed):
    one_step = sequence_of(workspace, message("hi"), trigger_tag=new_buyer_tag)
    contacts = [ContactFactory(workspace=workspace, owner_account=outbox_account) for _ in range(7)]
    sequences.enrol(sequence=one_step, contact_ids=[c.pk for c in contacts])
    assert sequences.sequences_tick(at=timezone.now() + timedelta(seconds=1), batch=3) == 7
    assert OutboxMessage.objects.count() == 7


def test_a_task_step_repeated_after_a_crash_creates_one_task(workspace, new_buyer_tag, customer, committed):
    call = sequence_of(workspace, {"action": SequenceStep.Action.TASK, "task_note": "打电话"}, trigger_tag=new_buyer_tag)
    tag(customer, new_buyer_tag, committed)
    enrolment = Enrolment.objects.get(sequence=call)
    due = timezone.now() + timedelta(seconds=1)
    sequences.sequences_tick(at=due)
    Enrolment.objects.filter(pk=enrolment.pk).update(status=Enrolment.Status.ACTIVE, step_index=0, next_run_at=due)
    sequences.sequences_tick(at=due)
    assert FollowUpTask.objects.filter(contact=customer).count() == 1
