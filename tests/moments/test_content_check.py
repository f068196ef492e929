"""The content check: absolute claims that the advertising law forbids are warned about on the moments composer
and the broadcast composer, from the workspace's own list, and never block saving."""

import pytest
from django.urls import reverse

from campaigns.models import Broadcast, MessagingSettings
from crm.content_check import DEFAULT_AD_WORDS, content_warnings, words_from_text
from moments.models import Post
from tests.moments.conftest import ENGLISH

pytestmark = pytest.mark.django_db
CLAIM = "全网最低价，国家级品质，100%野生"


def test_the_check_finds_each_listed_word_with_where_it_is():
    warnings = content_warnings(CLAIM + "，最好吃", words=list(DEFAULT_AD_WORDS))
    found = {warning.word: warning.count for warning in warnings}
    assert found["最"] == 2 and found["国家级"] == 1 and found["100%"] == 1 and found["全网最低"] == 1
    assert "国家级品质" in next(w.snippet for w in warnings if w.word == "国家级")
    assert content_warnings("今天上新，欢迎选购", words=list(DEFAULT_AD_WORDS)) == []


def test_a_typed_list_is_split_on_lines_and_commas_without_repeats():
    assert words_from_text("最\n第一, 唯一、最\n\n") == ["最", "第一", "唯一"]


def test_the_moments_composer_warns_but_saves(owner_client, workspace, manual_account):
    preview = owner_client.post(reverse("moments:post_preview"), {"text": CLAIM}, **ENGLISH)
    assert 'id="content-warnings"' in preview.content.decode() and "国家级" in preview.content.decode()
    response = owner_client.post(reverse("moments:post_create"), {
        "text": CLAIM, "accounts": [manual_account.pk], "visibility": "everyone", "action": "draft",
    })
    assert response.status_code == 302 and Post.objects.get(workspace=workspace).text == CLAIM
    page = owner_client.get(response["Location"], **ENGLISH).content.decode()
    assert 'id="content-warnings"' in page


def test_the_broadcast_composer_warns_but_saves(owner_client, workspace):
    preview = owner_client.post(reverse("campaigns:broadcast_text_preview"), {"text": CLAIM}, **ENGLISH)
    assert 'id="content-warnings"' in preview.content.decode()
    response = owner_client.post(reverse("campaigns:broadcast_create"),
                                 {"name": "双十一", "text": CLAIM, "when": "now"})
    assert response.status_code == 302 and Broadcast.objects.get(workspace=workspace).text == CLAIM
    form = owner_client.get(reverse("campaigns:broadcast_edit", args=[Broadcast.objects.get().pk]), **ENGLISH)
    assert 'id="content-warnings"' in form.content.decode()


def test_the_owner_edits_the_words_on_the_messaging_settings_page(owner_client, teammate_client, workspace):
    url = reverse("campaigns:messaging_settings")
    assert "国家级" in owner_client.get(url).content.decode()
    response = owner_client.post(url, {"quiet_start": "22:00", "quiet_end": "08:00", "daily_cap": 1,
                                       "ad_words": "包治百病\n特效"})
    assert response.status_code == 302
    assert MessagingSettings.objects.get(workspace=workspace).ad_words == "包治百病\n特效"
    preview = owner_client.post(reverse("moments:post_preview"), {"text": "特效药，国家级"}, **ENGLISH)
    content = preview.content.decode()
    assert "<mark>特效</mark>" in content and "<mark>国家级</mark>" not in content
    assert teammate_client.post(url, {"quiet_start": "22:00", "quiet_end": "08:00", "daily_cap": 1,
                                      "ad_words": ""}).status_code == 403
