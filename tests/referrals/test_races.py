"""Exactly once under concurrency: two workers check the same invite at the same moment on PostgreSQL (SQLite runs
one writer at a time, so the race exists only there); the reward is granted once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from referrals import qualification
from referrals.models import Invite, Reward
from tests.referrals.conftest import bring

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="a real race needs PostgreSQL")


def race(target, runs=2):
    barrier = threading.Barrier(runs)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(target())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_checks_racing_qualify_the_invite_and_grant_the_reward_once(transactional_db, participant):
    invite = bring(participant)
    at = invite.attributed_at + timedelta(days=4)
    results = race(lambda: qualification.invite_check(invite_id=invite.pk, now=at))
    assert sorted(results) == [False, True]
    assert Reward.objects.filter(participant=participant).count() == 1
    assert Invite.objects.get(pk=invite.pk).status == Invite.Status.QUALIFIED


def test_two_invites_of_one_participant_qualifying_at_once_grant_each_tier_once(transactional_db, participant):
    first, second, third = (bring(participant) for _ in range(3))
    at = first.attributed_at + timedelta(days=4)
    race(lambda: qualification.invites_check_due(now=at))
    participant.refresh_from_db()
    assert participant.qualified_count == 3
    assert sorted(Reward.objects.filter(participant=participant).values_list("tier__invites", flat=True)) == [1, 3]
