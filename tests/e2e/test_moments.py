"""A moments post in the browser: the composer's live preview looks like the post in WeChat (account name, text
folded behind "Full text", the 2×2 grid of four pictures, who sees it as a count, the advertising-law warning),
and the saved post keeps the look."""

from io import BytesIO

import pytest
from PIL import Image
from playwright.sync_api import expect

from crm.models import Member, WeChatAccount
from moments.models import Post
from tests.factories import ContactFactory, MemberFactory, TagFactory, WeChatAccountFactory, WorkspaceFactory, \
    tag_contact

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(transactional_db):
    workspace = WorkspaceFactory(name="张姐海味", slug="zhang-seafood")
    owner = MemberFactory(workspace=workspace, role=Member.Role.OWNER)
    account = WeChatAccountFactory(workspace=workspace, name="海味小张", channel=WeChatAccount.Channel.MANUAL)
    vip = TagFactory(workspace=workspace, name="VIP")
    for n in range(3):
        contact = ContactFactory(workspace=workspace, owner_account=account)
        if n == 0:
            tag_contact(contact, vip)
    return {"owner": owner, "account": account, "vip": vip}


def pictures(tmp_path, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = tmp_path / f"photo{n}.png"
        buffer = BytesIO()
        Image.new("RGB", (300, 200), (40 * n, 120, 200)).save(buffer, format="PNG")
        path.write_bytes(buffer.getvalue())
        paths.append(str(path))
    return paths


def test_the_preview_looks_like_a_wechat_moments_post(page, live_server, sign_in, shop, tmp_path, screenshot):
    sign_in(shop["owner"].user)
    page.goto(f"{live_server.url}/moments/posts/new/?account={shop['account'].pk}")
    preview = page.locator("#moment-preview")
    expect(preview.locator(".moment-name")).to_have_text("海味小张")

    long_text = "\n".join(f"第{n}行：今天到货的野生海参" for n in range(1, 9)) + "\n全网最低价"
    page.fill("#id_text", long_text)
    text = preview.locator(".moment-text")
    expect(text).to_have_class("moment-text folded")
    folded_height = text.bounding_box()["height"]
    toggle = preview.locator("[data-fold-toggle]")
    expect(toggle).to_have_text("Full text")
    toggle.click()
    expect(toggle).to_have_text("Collapse")
    assert text.bounding_box()["height"] > folded_height
    expect(page.locator("#content-warnings")).to_contain_text("全网最低")

    page.set_input_files("#id_images", pictures(tmp_path, 4))
    grid = preview.locator(".moment-grid")
    expect(grid).to_have_class("moment-grid four")
    expect(grid.locator("img")).to_have_count(4)
    boxes = [image.bounding_box() for image in grid.locator("img").all()]
    assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"] == boxes[3]["y"]  # two rows of two

    page.check("input[name=visibility][value=only_tags]")
    page.select_option("#id_visibility_tags", str(shop["vip"].pk))
    expect(page.locator("#audience-count")).to_have_attribute("data-audience", "1")
    screenshot("composer")

    page.click("button[name=action][value=draft]")
    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    post = Post.objects.get()
    assert post.images.count() == 4 and post.visibility == Post.Visibility.ONLY_TAGS
    expect(page.locator("#moment-preview .moment-grid.four img")).to_have_count(4)
    expect(page.locator("#content-warnings")).to_be_visible()
    screenshot("post")
