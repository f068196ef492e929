"""The UI speaks Simplified Chinese by default and English on request."""

import re
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.factories import ContactFactory

LOCALE_DIR = Path(settings.BASE_DIR) / "crm" / "locale" / "zh_Hans" / "LC_MESSAGES"


def _html(response) -> str:
    return response.content.decode()


def _nav(html: str) -> str:
    return html[html.index('<nav class="mainnav"'):html.index("</nav>")]


def test_the_contact_list_is_in_simplified_chinese_by_default(owner_client):
    response = owner_client.get(reverse("crm:contact_list"))
    assert response.status_code == 200
    html = _html(response)
    assert '<html lang="zh-hans">' in html
    nav = _nav(html)
    for label in ("客户", "标签", "客户群", "员工微信号", "成员"):
        assert f">{label}</a>" in nav
    assert "Contacts" not in nav
    assert "退出登录" in html


def test_the_contact_count_uses_the_single_chinese_plural_form(owner_client, workspace):
    ContactFactory(workspace=workspace)
    ContactFactory(workspace=workspace)
    html = _html(owner_client.get(reverse("crm:contact_list")))
    assert re.search(r'id="result-count">\s*2 位客户\s*<', html)


def test_switching_the_language_to_english_shows_the_contact_list_in_english(owner_client):
    response = owner_client.post(reverse("set_language"), {"language": "en", "next": reverse("crm:contact_list")})
    assert response.status_code == 302
    html = _html(owner_client.get(reverse("crm:contact_list")))
    assert '<html lang="en">' in html
    nav = _nav(html)
    assert ">Contacts</a>" in nav
    assert ">Tags</a>" in nav
    assert "客户群" not in nav


def test_an_english_accept_language_header_shows_the_contact_list_in_english(owner_client):
    html = _html(owner_client.get(reverse("crm:contact_list"), headers={"accept-language": "en"}))
    assert '<html lang="en">' in html
    assert ">Contacts</a>" in _nav(html)


def test_switching_back_to_chinese_shows_the_chinese_ui_again(owner_client):
    owner_client.post(reverse("set_language"), {"language": "en"})
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    html = _html(owner_client.get(reverse("crm:contact_list")))
    assert '<html lang="zh-hans">' in html
    assert ">客户</a>" in _nav(html)


def test_the_sign_in_page_is_in_chinese_by_default(db):
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    html = _html(response)
    assert '<html lang="zh-hans">' in html
    assert "<title>登录 · 私域 CRM</title>" in html
    assert ">用户名</label>" in html
    assert ">密码</label>" in html
    assert "Sign in" not in html


def test_a_bad_phone_number_is_reported_in_chinese(owner_client, workspace):
    response = owner_client.post(
        reverse("crm:contact_create"),
        {"nickname": "x", "phone": "12345", "gender": 0, "added_at": "2026-11-01T09:00", "source": "manual",
         "stage": "new"},
    )
    assert response.status_code == 200
    assert not workspace.contacts.exists()
    assert "“12345”不是有效的手机号码。" in response.context["form"].errors["phone"]
    assert "“12345”不是有效的手机号码。" in _html(response)


def test_a_bad_phone_number_is_reported_in_english_once_english_is_chosen(owner_client, workspace):
    owner_client.post(reverse("set_language"), {"language": "en"})
    response = owner_client.post(
        reverse("crm:contact_create"),
        {"nickname": "x", "phone": "12345", "gender": 0, "added_at": "2026-11-01T09:00", "source": "manual",
         "stage": "new"},
    )
    assert response.status_code == 200
    assert "“12345” is not a valid phone number." in _html(response)


def test_the_compiled_catalogue_sits_next_to_its_source():
    assert (LOCALE_DIR / "django.po").is_file()
    assert (LOCALE_DIR / "django.mo").is_file()
    with translation.override("zh-hans"):
        assert translation.gettext("Contacts") == "客户"
        assert translation.gettext("Owner") == "管理员"
        assert translation.ngettext("%(n)s contact", "%(n)s contacts", 5) % {"n": 5} == "5 位客户"


def test_every_message_in_the_catalogue_is_translated_and_none_is_fuzzy():
    text = (LOCALE_DIR / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in text and not re.search(r"^#,.*\bfuzzy\b", text, re.MULTILINE)
    assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in text
    untranslated = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines or lines[0] == 'msgid ""':
            continue  # the header
        msgstrs, current = [], None
        for line in lines:
            if line.startswith("msgstr"):
                current = [line.split(" ", 1)[1].strip('"')]
                msgstrs.append(current)
            elif line.startswith('"') and current is not None:
                current.append(line.strip('"'))
            else:
                current = None
        if not msgstrs or any(not "".join(parts) for parts in msgstrs):
            untranslated.append(lines[0])
    assert untranslated == []


def _h1(html: str) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", html, re.DOTALL).group(1).strip()


def test_the_segment_list_is_in_chinese_by_default(owner_client):
    response = owner_client.get(reverse("crm:segment_list"))
    assert response.status_code == 200
    html = _html(response)
    assert '<html lang="zh-hans">' in html
    assert "分群" in _h1(html)
    assert ">客户分群</a>" in _nav(html)
    assert "新建客户分群" in html
    assert "New segment" not in html


def test_the_import_page_is_in_chinese_by_default(owner_client):
    response = owner_client.get(reverse("crm:import_list"))
    assert response.status_code == 200
    html = _html(response)
    assert "导入" in _h1(html)
    assert "上传文件" in html
    assert "Import contacts or orders" not in html


def test_the_duplicates_page_is_in_chinese_by_default(owner_client):
    response = owner_client.get(reverse("crm:duplicate_list"))
    assert response.status_code == 200
    html = _html(response)
    assert "重复" in _h1(html)
    assert ">重复客户</a>" in _nav(html)
    assert "Duplicates" not in html


def test_the_new_pages_stay_english_on_request(owner_client):
    english = {"accept-language": "en"}
    assert "Segments" in _h1(_html(owner_client.get(reverse("crm:segment_list"), headers=english)))
    assert "Import" in _h1(_html(owner_client.get(reverse("crm:import_list"), headers=english)))
    assert "Duplicates" in _h1(_html(owner_client.get(reverse("crm:duplicate_list"), headers=english)))
