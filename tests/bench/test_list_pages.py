"""The contact list's pages behind tag and text filters come from a cached, ordered id list (selectors._ContactIds):
they must be exactly the pages OFFSET would give, and follow the book when it changes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import selectors, services
from crm.models import Contact
from crm.selectors import ContactFilter, _ContactIds
from tests.factories import ContactFactory, TagFactory, tag_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(workspace):
    """130 contacts with the tag 海参, every third also called 张姐, added a minute apart (some at the same time)."""
    tag = TagFactory(workspace=workspace, name="海参")
    start = timezone.now()
    for n in range(130):
        contact = ContactFactory(
            workspace=workspace,
            remark_name=f"张姐{n}" if n % 3 == 0 else f"王哥{n}",
            added_at=start - timedelta(minutes=n // 2),  # pairs share added_at: the id breaks the tie
        )
        tag_contact(contact, tag)
    ContactFactory(workspace=workspace, remark_name="张姐-没有标签")
    return tag


def shown_ids(client, query: dict, page: int) -> list[int]:
    response = client.get(reverse("crm:contact_list"), {**query, "page": page})
    assert response.status_code == 200
    return [contact.pk for contact in response.context["page"]]


def expected_ids(owner, filters: ContactFilter, page: int) -> list[int]:
    return list(selectors.contact_list(member=owner, filters=filters).values_list("pk", flat=True))[
        (page - 1) * 50 : page * 50
    ]


@pytest.mark.parametrize("block", [1000, 7])
def test_filtered_pages_are_the_pages_offset_would_give(owner, owner_client, book, monkeypatch, block):
    monkeypatch.setattr(_ContactIds, "BLOCK", block)
    for query, filters in [
        ({"tags_all": book.pk}, ContactFilter(tags_all=(book.pk,))),
        ({"tags_all": book.pk, "q": "张姐"}, ContactFilter(tags_all=(book.pk,), q="张姐")),
        ({"q": "王"}, ContactFilter(q="王")),
    ]:
        pages = (selectors.contact_list(member=owner, filters=filters).count() - 1) // 50 + 1
        assert pages >= 1
        for page in range(1, pages + 1):
            assert shown_ids(owner_client, query, page) == expected_ids(owner, filters, page)


def test_the_count_on_the_page_is_the_number_of_matches(owner_client, book):
    response = owner_client.get(reverse("crm:contact_list"), {"tags_all": book.pk, "q": "张姐"})
    assert response.context["count"] == 44 == len(response.context["page"])


def test_pages_beyond_the_cached_ids_use_offset(owner, owner_client, book, monkeypatch):
    monkeypatch.setattr(_ContactIds, "MAX_CACHED", 60)
    monkeypatch.setattr(_ContactIds, "BLOCK", 7)
    filters = ContactFilter(tags_all=(book.pk,))
    for page in (1, 2, 3):
        assert shown_ids(owner_client, {"tags_all": book.pk}, page) == expected_ids(owner, filters, page)
    assert owner_client.get(reverse("crm:contact_list"), {"tags_all": book.pk}).context["count"] == 130


def test_an_evicted_block_falls_back_to_offset(owner, owner_client, book):
    from django.core.cache import cache

    filters = ContactFilter(tags_all=(book.pk,))
    shown_ids(owner_client, {"tags_all": book.pk}, 1)
    ids = _ContactIds.of(member=owner, filters=filters, contacts=selectors.contact_list(member=owner, filters=filters))
    cache.delete(f"{ids.key}:0")
    assert shown_ids(owner_client, {"tags_all": book.pk}, 2) == expected_ids(owner, filters, 2)


def test_the_pages_follow_the_book_when_a_contact_is_tagged(owner, owner_client, workspace, book):
    query = {"tags_all": book.pk}
    first = shown_ids(owner_client, query, 1)
    newest = ContactFactory(workspace=workspace, added_at=timezone.now() + timedelta(days=1))
    services.contacts_tag(workspace=workspace, contact_ids=[newest.pk], add=[book], actor=owner.user)
    assert shown_ids(owner_client, query, 1) == [newest.pk, *first[:49]]
    assert owner_client.get(reverse("crm:contact_list"), query).context["count"] == 131


def test_a_limited_teammate_gets_their_own_list(owner_client, teammate, workspace, book):
    from tests.conftest import client_for
    from tests.factories import WeChatAccountFactory

    account = WeChatAccountFactory(workspace=workspace)
    mine = Contact.objects.filter(workspace=workspace, remark_name__startswith="王哥").order_by("pk")[:5]
    Contact.objects.filter(pk__in=[c.pk for c in mine]).update(owner_account=account)
    teammate.limited_to_assigned_accounts = True
    teammate.save()
    teammate.assigned_accounts.add(account)
    owner_client.get(reverse("crm:contact_list"), {"tags_all": book.pk})  # the owner's list is cached first
    response = client_for(teammate).get(reverse("crm:contact_list"), {"tags_all": book.pk})
    assert response.context["count"] == 5
    assert sorted(c.pk for c in response.context["page"]) == sorted(c.pk for c in mine)
