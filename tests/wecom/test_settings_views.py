"""The WeCom settings page: the owner's alone, secrets never shown back in full nor stored in plain text."""

import pytest
from django.urls import reverse

from tests.wecom.conftest import CALLBACK_TOKEN, CORP_ID, ENCODING_AES_KEY, SECRET
from wecom.models import WeComCredentials

pytestmark = pytest.mark.django_db

SETTINGS = reverse("wecom:settings")
CHECK = reverse("wecom:settings_check")


def form(**changes):
    return {"corp_id": CORP_ID, "agent_id": "1000002", "secret": SECRET, "callback_token": CALLBACK_TOKEN,
            "encoding_aes_key": ENCODING_AES_KEY, **changes}


def test_the_owner_enters_the_credentials_and_gets_the_callback_url(owner_client, workspace):
    response = owner_client.post(SETTINGS, form(), follow=True)
    assert response.status_code == 200
    credentials = WeComCredentials.objects.get(workspace=workspace)
    assert (credentials.corp_id, credentials.secret, credentials.encoding_aes_key) == (CORP_ID, SECRET,
                                                                                       ENCODING_AES_KEY)
    html = response.content.decode()
    assert f"/wecom/callback/{credentials.callback_key}/" in html


def test_secrets_are_shown_only_by_their_last_four_characters(owner_client, credentials):
    html = owner_client.get(SETTINGS).content.decode()
    assert SECRET not in html and ENCODING_AES_KEY not in html
    assert f"••••{SECRET[-4:]}" in html and f"••••{ENCODING_AES_KEY[-4:]}" in html


def test_secrets_are_not_stored_in_plain_text(credentials):
    row = WeComCredentials.objects.values().get(pk=credentials.pk)
    assert not any(SECRET in str(value) or ENCODING_AES_KEY in str(value) for value in row.values())


def test_empty_secret_boxes_keep_the_stored_secrets(owner_client, credentials):
    owner_client.post(SETTINGS, form(secret="", callback_token="", encoding_aes_key="", agent_id="1000003"))
    credentials.refresh_from_db()
    assert (credentials.agent_id, credentials.secret, credentials.callback_token) == ("1000003", SECRET,
                                                                                      CALLBACK_TOKEN)


def test_first_credentials_need_every_secret(owner_client, workspace):
    response = owner_client.post(SETTINGS, form(secret=""))
    assert response.status_code == 400
    assert not WeComCredentials.objects.filter(workspace=workspace).exists()


def test_a_malformed_encoding_aes_key_is_refused(owner_client, workspace):
    assert owner_client.post(SETTINGS, form(encoding_aes_key="too-short")).status_code == 400


def test_the_connection_test_fetches_a_token(owner_client, credentials, fake_wecom):
    response = owner_client.post(CHECK, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    assert len(fake_wecom.calls_to("gettoken")) == 1


def test_the_connection_test_reports_wecoms_refusal(owner_client, credentials, fake_wecom):
    fake_wecom.fail_next("gettoken", 40001)
    response = owner_client.post(CHECK, follow=True)
    [message] = response.context["messages"]
    assert message.level_tag == "error" and "40001" in message.message


@pytest.mark.parametrize("url", [SETTINGS, CHECK])
def test_a_teammate_cannot_open_the_wecom_settings(teammate_client, credentials, url):
    assert teammate_client.post(url, form()).status_code == 403
    assert teammate_client.get(SETTINGS).status_code == 403


def test_another_workspaces_owner_sees_only_their_own_settings(outsider_client, credentials):
    html = outsider_client.get(SETTINGS).content.decode()
    assert CORP_ID not in html and credentials.callback_key not in html
    assert outsider_client.post(CHECK).status_code == 404  # they have no credentials of their own


def test_a_visitor_is_sent_to_sign_in(client, credentials):
    assert client.get(SETTINGS).status_code == 302


def test_the_page_speaks_chinese_by_default(owner_client, credentials):
    html = owner_client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "企业微信设置" in html and "回调 URL" in html and "测试连接" in html


def test_credentials_sealed_under_another_secret_key_must_be_entered_again(credentials, settings):
    settings.SECRET_KEY = "a-rotated-key"
    credentials.refresh_from_db()
    assert (credentials.secret, credentials.encoding_aes_key) == ("", "")
