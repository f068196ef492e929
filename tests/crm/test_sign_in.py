"""Sign-in throttling by django-axes: five wrong passwords for one username from one address lock it for a while."""

import pytest
from django.urls import reverse

from crm.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


@pytest.fixture
def seller():
    return MemberFactory(user=UserFactory(username="zhangjie"), role=Member.Role.OWNER).user


def sign_in(client, username, password, ip="203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_signs_in(client, seller):
    response = sign_in(client, "zhangjie", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:contact_list")
    assert client.session["_auth_user_id"] == str(seller.pk)


def test_a_wrong_password_shows_the_form_again(client, seller):
    response = sign_in(client, "zhangjie", "wrong")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not signed_in(client)


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, seller):
    for _ in range(5):
        assert sign_in(client, "zhangjie", "wrong").status_code in (200, 429)
    response = sign_in(client, "zhangjie", PASSWORD)
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    assert not signed_in(client)


def test_four_wrong_passwords_do_not_lock(client, seller):
    for _ in range(4):
        assert sign_in(client, "zhangjie", "wrong").status_code == 200
    assert sign_in(client, "zhangjie", PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_successful_sign_in_resets_the_failures(client, seller):
    for _ in range(4):
        sign_in(client, "zhangjie", "wrong")
    sign_in(client, "zhangjie", PASSWORD)
    client.logout()
    for _ in range(4):
        sign_in(client, "zhangjie", "wrong")
    assert sign_in(client, "zhangjie", PASSWORD).status_code == 302


def test_another_username_from_the_same_address_is_not_locked(client, seller):
    colleague = UserFactory(username="xiaoli")
    for _ in range(5):
        sign_in(client, "zhangjie", "wrong")
    response = sign_in(client, "xiaoli", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(colleague.pk)


def test_the_same_username_from_another_address_is_not_locked(client, seller):
    for _ in range(5):
        sign_in(client, "zhangjie", "wrong", ip="203.0.113.7")
    assert sign_in(client, "zhangjie", PASSWORD, ip="198.51.100.9").status_code == 302


def test_the_lock_is_lifted_by_an_axes_reset(client, seller):
    from axes.utils import reset

    for _ in range(5):
        sign_in(client, "zhangjie", "wrong")
    assert sign_in(client, "zhangjie", PASSWORD).status_code == 429
    reset(username="zhangjie")
    assert sign_in(client, "zhangjie", PASSWORD).status_code == 302
