"""Deterministic, realistic seed data for one workspace: WeChat accounts, tag groups and tags, contacts, tags on
contacts, customer groups, orders and a few timeline notes.

`seed_workspace(workspace=..., contacts=N, seed=S)` always builds the same rows for the same seed and reference
date: every choice comes from one `random.Random(seed)` and every timestamp is an offset from `reference`
(a fixed date unless one is passed), never from the clock (only `updated_at`, which Django stamps itself
outside PostgreSQL, is not the seed's). It adds N contacts each time it runs; accounts, tag
groups, tags and customer groups it only creates when missing (looked up by name).

One generator (`_generate`) makes the rows, batch by batch; two small writers store them:
- PostgreSQL: COPY. A million contacts come with about ten million ContactTag rows and two million orders;
  `bulk_create` sends them as multi-row INSERTs that the server parses and plans batch by batch, which takes
  about ten times as long as COPY streaming the same rows. Contact ids are reserved from the table's sequence
  first, so the tag, order and membership rows of a batch can name their contact before it is written.
- Any other database (SQLite for `make run` and the tests): `bulk_create` in batches, which sets the ids.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Callable
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from crm import bulkload, selectors, services
from crm.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    GroupMembership,
    Order,
    Tag,
    TagGroup,
    TimelineEvent,
    WeChatAccount,
    Workspace,
)

# Same seed, same reference: same data. Pass reference=timezone.now() for data that ends today.
DEFAULT_REFERENCE = datetime(2026, 11, 1, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
BATCH_SIZE = 20_000  # contacts per generated batch, written in one transaction (or savepoint)
BULK_CREATE_BATCH_SIZE = 500  # rows per INSERT on databases without COPY
# On PostgreSQL a seed of this many contacts, at least as many as the database holds already, is loaded with the
# big tables' indexes and constraints set aside (see crm.bulkload.indexes_set_aside).
BULK_LOAD_MIN_CONTACTS = 100_000
BULK_LOAD_TABLES = ("crm_contact", "crm_contacttag", "crm_order")
GROUP_CAPACITY = 500  # a WeChat group chat holds at most 500 people
HISTORY_DAYS = 3 * 365

# ---------------------------------------------------------------------------------------------------------------
# The vocabulary. Weights are relative frequencies; probabilities are per contact.

ACCOUNT_NAMES = [
    ("小美-海味1号", "xiaomei_haiwei1"),
    ("小美-海味2号", "xiaomei_haiwei2"),
    ("阿海-大连直发", "ahai_dalian"),
    ("小美-海味3号", "xiaomei_haiwei3"),
    ("售后-晓晓", "shouhou_xiaoxiao"),
]
ACCOUNT_WEIGHTS = [40, 25, 18, 10, 7]

# (group name, exclusive, [(tag name, probability per contact)]). None: ungrouped tags.
# The 状态 and 地区 tags are not drawn on their own: they follow the contact's stage and region (below).
TAG_CATALOGUE: list[tuple[str | None, bool, list[tuple[str, float]]]] = [
    ("客户等级", True, [("A级客户", 0.18), ("B级客户", 0.32), ("C级客户", 0.30), ("VIP客户", 0.05)]),
    ("购买力", True, [("高消费", 0.12), ("中消费", 0.30), ("低消费", 0.18)]),
    ("兴趣", False, [
        ("海参", 0.32), ("燕窝", 0.30), ("花胶", 0.22), ("鲍鱼", 0.20), ("茶叶", 0.15), ("枸杞", 0.14),
        ("干贝", 0.10), ("红枣", 0.08), ("蜂蜜", 0.06), ("石斛", 0.03), ("虫草", 0.015), ("阿胶", 0.012),
    ]),
    ("来源渠道", False, [
        ("朋友介绍", 0.26), ("淘宝老客", 0.24), ("快递卡片", 0.20), ("抖音直播", 0.16), ("拼多多", 0.12),
        ("小红书", 0.08), ("社群裂变", 0.06), ("线下门店", 0.02),
    ]),
    ("地区", False, [
        ("大连", 0), ("沈阳", 0), ("北京", 0), ("上海", 0), ("广州", 0), ("深圳", 0), ("杭州", 0), ("成都", 0),
        ("青岛", 0), ("海外", 0),
    ]),
    ("状态", False, [
        ("老客", 0), ("新客", 0), ("沉睡", 0), ("高意向", 0.14), ("待跟进", 0.24), ("已流失", 0), ("复购", 0),
        ("已退款", 0.02),
    ]),
    ("场景", False, [("自用", 0.29), ("送礼", 0.27), ("老人", 0.18), ("团购", 0.12), ("孕妇", 0.07), ("产后", 0.05)]),
    (None, False, [
        ("爱买海参", 0.30), ("价格敏感", 0.27), ("回头客", 0.24), ("爱砍价", 0.20), ("宝妈", 0.16),
        ("晚上回复", 0.14), ("中秋礼盒", 0.12), ("要发票", 0.06), ("老乡", 0.04), ("退休教师", 0.02),
        ("大客户", 0.015), ("不要打扰", 0.01),
    ]),
]
# Status tags by lifecycle stage: (tag, probability).
STAGE_TAGS = {
    Contact.Stage.NEW: [("新客", 0.85)],
    Contact.Stage.ENGAGED: [("新客", 0.45), ("高意向", 0.25)],
    Contact.Stage.FIRST_ORDER: [("新客", 0.30), ("老客", 0.20)],
    Contact.Stage.REPEAT: [("老客", 0.85), ("复购", 0.60)],
    Contact.Stage.VIP: [("老客", 0.90), ("复购", 0.80)],
    Contact.Stage.DORMANT: [("沉睡", 0.75), ("老客", 0.30)],
    Contact.Stage.LOST: [("已流失", 0.65)],
}
REGION_TAG_PROBABILITY = 0.5
# How tag-happy the seller was with a contact: new friends get few tags, loyal ones many.
TAG_ZEAL = [(0.4, 15), (0.8, 25), (1.3, 30), (1.8, 20), (2.3, 10)]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤"
)
GIVEN_CHARS = "芳娜敏静丽艳娟霞秀英华玲红梅兰凤洁琳素云莲真雪荣爱妹燕萍丹婷伟强磊军洋勇杰涛明超刚平辉鹏宇浩凯健俊峰建国志文斌波"
HONORIFICS = [("姐", 34), ("哥", 20), ("阿姨", 12), ("老师", 8), ("总", 5), ("叔", 5), ("妹", 6), ("", 10)]
CUTE_NICKNAMES = [
    "小鱼儿", "糖糖", "阳光明媚", "岁月静好", "开心就好", "知足常乐", "花开富贵", "一路有你", "静待花开", "向日葵",
    "海的女儿", "微笑", "平安是福", "淡然", "随缘", "晴天", "木子", "云淡风轻", "快乐每一天", "浅笑安然", "梦想成真",
    "心若向阳", "米粒", "豆豆", "果果", "朵朵", "乐乐", "琪琪", "悠悠", "甜甜", "大海", "老顽童", "山水之间", "茶香",
    "一叶知秋", "大姐大", "幸福人生", "荷塘月色", "兰花草", "海阔天空", "清风徐来", "暖暖", "橙子", "小太阳",
    "贝壳", "渔家女", "美美哒", "宝宝妈", "夏天的风", "简单就好",
]
EMOJIS = ["🌸", "🐟", "✨", "🌈", "🍀", "🌹", "☀️", "🌙", "💕", "🦋", "🐚", "🌊", "🍵", "🎀", "🌷", "😊"]
ENGLISH_NAMES = [
    "Amy", "Jenny", "Coco", "Lily", "Kevin", "Leo", "Tony", "Vivian", "Cindy", "Grace", "Eric", "Sunny", "Alice",
    "Helen", "Jack", "Annie", "Linda", "Zoe", "Mia", "David",
]
BUSINESS_STYLE = ["A.平安是福", "A~大连海鲜批发", "A-好运连连", "宝妈-{cute}", "{surname}{given}-保险", "AAA{cute}"]
REMARK_EXTRAS = ["礼盒", "团购", "同事介绍", "抖音", "淘宝", "老乡", "宝妈", "送礼", "回购", "公司采购", "快递卡片"]
PINYIN_SURNAMES = ["zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma", "lin"]
PINYIN_GIVEN = ["fang", "li", "na", "min", "jing", "qiang", "lei", "jun", "yan", "ting", "hui", "xin", "yu", "mei"]
WXID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PHONE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157",
    "158", "159", "166", "176", "177", "180", "181", "182", "183", "186", "187", "188", "189", "198", "199",
]
PHONE_SHARE = 0.70
PHONE_DUPLICATE = 0.01

# (province, city, weight); WeChat shows a region as "广东 深圳". A seafood seller from 大连 has many friends there.
REGIONS = [
    ("辽宁", "大连", 14), ("辽宁", "沈阳", 5), ("北京", "北京", 6), ("上海", "上海", 6), ("广东", "深圳", 6),
    ("广东", "广州", 6), ("浙江", "杭州", 5), ("江苏", "南京", 4), ("江苏", "苏州", 4), ("山东", "青岛", 5),
    ("山东", "济南", 3), ("四川", "成都", 5), ("湖北", "武汉", 4), ("福建", "厦门", 3), ("河南", "郑州", 3),
    ("陕西", "西安", 3), ("湖南", "长沙", 3), ("重庆", "重庆", 3), ("天津", "天津", 3), ("黑龙江", "哈尔滨", 3),
    ("吉林", "长春", 2), ("河北", "石家庄", 2), ("安徽", "合肥", 2), ("云南", "昆明", 2), ("广西", "南宁", 1),
    ("海南", "海口", 1), ("内蒙古", "呼和浩特", 1), ("美国", "洛杉矶", 1), ("澳大利亚", "悉尼", 1),
    ("加拿大", "温哥华", 1), ("", "", 12),
]
OVERSEAS = {"美国", "澳大利亚", "加拿大"}

GENDERS = [(Contact.Gender.FEMALE, 55), (Contact.Gender.MALE, 30), (Contact.Gender.UNKNOWN, 15)]
SOURCES = [
    (Contact.Source.SHOP, 22), (Contact.Source.ORGANIC, 20), (Contact.Source.REFERRAL, 18),
    (Contact.Source.CHANNEL_QR, 14), (Contact.Source.GROUP, 10), (Contact.Source.ADS, 8),
    (Contact.Source.IMPORT, 5), (Contact.Source.MANUAL, 3),
]
# The stage follows the orders a contact has placed.
STAGES_BY_ORDERS = [
    (0, [(Contact.Stage.NEW, 30), (Contact.Stage.ENGAGED, 35), (Contact.Stage.DORMANT, 20), (Contact.Stage.LOST, 15)]),
    (1, [(Contact.Stage.FIRST_ORDER, 55), (Contact.Stage.DORMANT, 30), (Contact.Stage.LOST, 10),
         (Contact.Stage.ENGAGED, 5)]),
    (2, [(Contact.Stage.REPEAT, 70), (Contact.Stage.DORMANT, 20), (Contact.Stage.VIP, 5), (Contact.Stage.LOST, 5)]),
    (6, [(Contact.Stage.VIP, 60), (Contact.Stage.REPEAT, 35), (Contact.Stage.DORMANT, 5)]),
]
HOUR_WEIGHTS = [1, 1, 0, 0, 0, 0, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 6, 6, 6, 7, 9, 10, 8, 4]

PRODUCTS = [
    ("大连刺参 500g", 688, 14), ("即食海参 10只装", 398, 16), ("淡干海参 250g", 1280, 5), ("试吃装海参 2只", 29.9, 8),
    ("燕窝 50g", 580, 6), ("即食燕窝 6瓶", 268, 8), ("花胶筒 250g", 458, 5), ("鲍鱼罐头 8头", 168, 7),
    ("干贝 500g", 198, 6), ("宁夏枸杞 500g", 49, 7), ("新疆红枣 1kg", 39.9, 6), ("铁观音 250g", 128, 4),
    ("普洱茶饼 357g", 299, 3), ("海米 250g", 59, 5), ("椴树蜂蜜 500g", 68, 4), ("中秋海味礼盒", 888, 4),
    ("春节年货礼盒", 1299, 3), ("铁皮石斛 50g", 238, 2),
]
CHANNELS = [
    (Order.Channel.WECHAT, 45), (Order.Channel.TAOBAO, 18), (Order.Channel.PDD, 12), (Order.Channel.DOUYIN, 12),
    (Order.Channel.JD, 8), (Order.Channel.OTHER, 5),
]
ORDER_NUMBER_PREFIX = {
    Order.Channel.TAOBAO: "TB", Order.Channel.PDD: "PDD", Order.Channel.JD: "JD", Order.Channel.DOUYIN: "DY",
    Order.Channel.WECHAT: "WX",
}
MIN_AMOUNT, MAX_AMOUNT = 29, 2000

CUSTOMER_GROUPS = ["海参福利1群", "大连老客群", "燕窝团购群", "VIP尊享群", "新客体验群", "中秋礼盒预订群"]

DISCOUNTS = (1, 1, 1, 0.95, 0.9, 0.85)
REMARK_WORDS = (0, 1, 2, 2)  # how many words follow the form of address
BASE36_PAIRS = [a + b for a in WXID_ALPHABET for b in WXID_ALPHABET]

DESCRIPTION_TEMPLATES = [
    "{year}年{festival}买过{product}，{comment}",
    "{comment}，{comment2}",
    "是{surname}姐介绍来的，{comment}",
    "{festival}前问过{product}，{comment}",
    "老家{city}，{comment}",
]
FESTIVALS = ["双十一", "中秋", "春节", "618", "端午", "母亲节"]
COMMENTS = [
    "说口感不错", "想要发票", "喜欢大只的", "给老人买的", "孕期在吃", "对价格比较敏感", "晚上八点后回复",
    "要顺丰包邮", "不吃辣", "准备回购", "嫌贵没下单", "送领导用", "朋友圈常点赞", "问过泡发方法",
]
NOTES = [
    (TimelineEvent.Kind.NOTE, "问了海参的泡发方法，发了教程视频"),
    (TimelineEvent.Kind.NOTE, "说上次的燕窝很好，准备回购"),
    (TimelineEvent.Kind.NOTE, "嫌快递慢，下次发顺丰"),
    (TimelineEvent.Kind.FOLLOW_UP, "想要中秋礼盒，下周再联系"),
    (TimelineEvent.Kind.FOLLOW_UP, "回访：海参吃完了吗？推荐新到的淡干参"),
    (TimelineEvent.Kind.FOLLOW_UP, "生日快到了，发个优惠券"),
    (TimelineEvent.Kind.NOTE, "帮同事问团购价，给了九折"),
]
NOTE_SHARE = 0.05


@dataclass
class SeedResult:
    accounts: int = 0
    tag_groups: int = 0
    tags: int = 0
    contacts: int = 0
    contact_tags: int = 0
    customer_groups: int = 0
    group_members: int = 0
    orders: int = 0
    timeline_events: int = 0

    def summary(self) -> str:
        return (
            f"{self.contacts} contacts, {self.contact_tags} tags on contacts, {self.orders} orders, "
            f"{self.group_members} group members, {self.timeline_events} timeline events "
            f"({self.accounts} WeChat accounts, {self.tags} tags in {self.tag_groups} groups, "
            f"{self.customer_groups} customer groups)"
        )


@dataclass
class _Batch:
    """Rows of up to BATCH_SIZE contacts. The other rows name their contact by its index in `contacts`."""

    contacts: list[tuple] = field(default_factory=list)  # CONTACT_FIELDS
    tags: list[tuple[int, int, datetime]] = field(default_factory=list)  # (contact, tag id, created_at)
    orders: list[tuple] = field(default_factory=list)  # (contact, amount, placed_at, channel, items, external_id)
    memberships: list[tuple[int, int, datetime]] = field(default_factory=list)  # (contact, group id, joined_at)
    events: list[tuple[int, str, str, datetime]] = field(default_factory=list)  # (contact, kind, body, occurred_at)


CONTACT_FIELDS = (
    "owner_account_id", "nickname", "remark_name", "description", "wechat_id", "phone", "gender", "region",
    "added_at", "source", "stage",
)


def seed_workspace(
    *,
    workspace: Workspace,
    contacts: int,
    orders_per_contact: float = 2.0,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
    reference: datetime | None = None,
) -> SeedResult:
    """Add `contacts` realistic contacts (with tags, orders, groups and notes) to the workspace."""
    rng = random.Random(seed)
    reference = reference or DEFAULT_REFERENCE
    result = SeedResult()
    accounts = _ensure_accounts(workspace, rng, result)
    tags = _ensure_tags(workspace, result)
    groups = _ensure_customer_groups(workspace, accounts, rng, result)
    rows = _generate(
        rng=rng, total=contacts, accounts=accounts, tags=tags, groups=groups,
        orders_per_contact=orders_per_contact, reference=reference,
    )
    postgresql = connection.vendor == "postgresql"
    write = _write_copy if postgresql else _write_bulk_create
    bulk_load = postgresql and contacts >= BULK_LOAD_MIN_CONTACTS and contacts >= Contact.objects.count()
    done = 0
    # A bulk load is one transaction (all or nothing); otherwise each batch commits on its own.
    set_aside = bulkload.indexes_set_aside(BULK_LOAD_TABLES) if bulk_load else nullcontext()
    with transaction.atomic() if bulk_load else nullcontext(), set_aside:
        for batch in rows:
            with transaction.atomic():
                write(workspace.pk, batch, result)
            done += len(batch.contacts)
            if progress:
                progress(done, contacts)
    _analyze()
    selectors.book_changed(workspace_id=workspace.pk)
    return result


# Reference rows -------------------------------------------------------------------------------------------------


def _ensure_accounts(workspace: Workspace, rng: random.Random, result: SeedResult) -> list[tuple[int, int]]:
    """(account id, weight) of 3 to 5 WeChat accounts, created when missing."""
    count = rng.randint(3, 5)
    accounts = []
    for (name, wechat_id), weight in zip(ACCOUNT_NAMES[:count], ACCOUNT_WEIGHTS):
        account, _ = WeChatAccount.objects.get_or_create(
            workspace=workspace, name=name, defaults={"wechat_id": wechat_id}
        )
        accounts.append((account.pk, weight))
    result.accounts = len(accounts)
    return accounts


@dataclass
class _TagPlan:
    """The drawing plan: independent tags, exclusive groups (at most one each), status and region tags."""

    independent: list[tuple[int, float]]  # (tag id, probability)
    exclusive: list[list[tuple[int, float]]]  # per exclusive group: (tag id, probability), sum <= 1
    by_stage: dict[str, list[tuple[int, float]]]
    by_city: dict[str, int]
    remark_names: dict[int, str]  # tags a seller would write into a remark (not 客户等级 and the like)


def _ensure_tags(workspace: Workspace, result: SeedResult) -> _TagPlan:
    """The catalogue's tag groups and tags, created when missing. A tag that exists already keeps its group, and
    the plan follows the groups as they are in the database, so no contact gets two tags of an exclusive group."""
    planned: list[tuple[Tag, float]] = []
    for position, (group_name, exclusive, entries) in enumerate(TAG_CATALOGUE):
        group = None
        if group_name:
            group, _ = TagGroup.objects.get_or_create(
                workspace=workspace, name=group_name, defaults={"exclusive": exclusive, "position": position}
            )
            result.tag_groups += 1
        for name, probability in entries:
            planned.append((services.tag_get_or_create(workspace=workspace, name=name, group=group), probability))
    result.tags = len(planned)
    tags = {tag.name: tag for tag, _ in planned}
    exclusive_groups = {
        g.pk for g in TagGroup.objects.filter(pk__in={t.group_id for t in tags.values() if t.group_id}, exclusive=True)
    }
    drawn_elsewhere = {name for rule in STAGE_TAGS.values() for name, _ in rule} | {"海外"}
    drawn_elsewhere |= {city for _, city, _ in REGIONS if city in tags}
    independent, exclusive = [], {}
    for tag, probability in planned:
        if tag.group_id in exclusive_groups:
            exclusive.setdefault(tag.group_id, []).append((tag.pk, probability))
        elif probability and tag.name not in drawn_elsewhere:
            independent.append((tag.pk, probability))
    for group_id, entries in exclusive.items():
        total = sum(p for _, p in entries)
        if total > 1:
            exclusive[group_id] = [(pk, p / total) for pk, p in entries]
    by_stage = {}
    for stage, rule in STAGE_TAGS.items():
        by_stage[stage] = [
            (tags[name].pk, p) for name, p in rule if tags[name].group_id not in exclusive_groups
        ]
    by_city = {city: tags[city].pk for city in tags if city in {c for _, c, _ in REGIONS} or city == "海外"}
    by_city = {city: pk for city, pk in by_city.items() if tags[city].group_id not in exclusive_groups}
    return _TagPlan(
        independent=independent,
        exclusive=list(exclusive.values()),
        by_stage=by_stage,
        by_city=by_city,
        remark_names={tag.pk: tag.name for tag in tags.values() if tag.group_id not in exclusive_groups},
    )


def _ensure_customer_groups(
    workspace: Workspace, accounts: list[tuple[int, int]], rng: random.Random, result: SeedResult
) -> list[list]:
    """[group id, places left] of the customer groups, created when missing."""
    groups = []
    for index, name in enumerate(CUSTOMER_GROUPS):
        group, _ = CustomerGroup.objects.get_or_create(
            workspace=workspace, name=name, defaults={"owner_account_id": accounts[index % len(accounts)][0]}
        )
        groups.append([group.pk, GROUP_CAPACITY - group.memberships.count()])
    rng.shuffle(groups)
    result.customer_groups = len(groups)
    return groups


# The generator ---------------------------------------------------------------------------------------------------
# Written for speed as much as for reading: a million contacts pass through this loop, so it draws with
# rng.random() and bisect on cumulative weights (rng.choices costs ten times as much per call) and works in epoch
# seconds, making a datetime only for what is stored.


class _Picker:
    """A weighted choice: pick(u) with u = rng.random()."""

    def __init__(self, pairs):
        self.values = [value for value, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def __call__(self, u: float):
        return self.values[bisect(self.cumulative, u * self.total)]


def _generate(*, rng, total, accounts, tags: _TagPlan, groups, orders_per_contact, reference):
    """Yield _Batch after _Batch of contact rows and the rows that hang off them."""
    random_ = rng.random
    pick_account = _Picker(accounts)
    pick_honorific = _Picker(HONORIFICS)
    pick_region = _Picker([((province, city), weight) for province, city, weight in REGIONS])
    pick_gender = _Picker([(int(gender), weight) for gender, weight in GENDERS])
    pick_source = _Picker([(str(source), weight) for source, weight in SOURCES])
    pick_hour = _Picker(list(enumerate(HOUR_WEIGHTS)))
    pick_zeal = _Picker(TAG_ZEAL)
    pick_product = _Picker([((name, price), weight) for name, price, weight in PRODUCTS])
    pick_channel = _Picker([(str(channel), weight) for channel, weight in CHANNELS])
    stage_pickers = [
        (threshold, _Picker([(str(stage), weight) for stage, weight in table]))
        for threshold, table in reversed(STAGES_BY_ORDERS)
    ]
    by_stage = {str(stage): rule for stage, rule in tags.by_stage.items()}
    independent, exclusive, by_city, remark_names = tags.independent, tags.exclusive, tags.by_city, tags.remark_names
    end = int(reference.timestamp())
    day_start = end - (reference.hour * 3600 + reference.minute * 60 + reference.second)  # the reference's midnight
    # Orders: a share of contacts never buys; buyers place 1 + a negative-binomial number of orders (a long tail
    # of loyal buyers with 10+), so the mean over all contacts is orders_per_contact.
    buyer_share = min(0.6, orders_per_contact / 1.2) if orders_per_contact > 0 else 0.0
    extra_mean = orders_per_contact / buyer_share - 1 if buyer_share else 0.0
    group_share = min(0.25, 4 * GROUP_CAPACITY * len(groups) / max(total, 1))
    recent_phones: list[str] = []

    batch = _Batch()
    for _ in range(total):
        index = len(batch.contacts)
        # When the friend was added: more lately than three years ago, mostly in the day and the evening.
        days_ago = int(HISTORY_DAYS * random_() ** 1.4)
        added = day_start - days_ago * 86400 + pick_hour(random_()) * 3600 + int(random_() * 3600)
        if added > end:
            added -= 86400
        age = end - added
        added_at = datetime.fromtimestamp(added, UTC)

        # Orders decide the stage, the stage some status tags.
        order_count = 0
        if random_() < buyer_share:
            order_count = 1 + _poisson(rng, rng.gammavariate(0.8, extra_mean / 0.8) if extra_mean else 0)
        stage = next(picker for threshold, picker in stage_pickers if order_count >= threshold)(random_())
        province, city = pick_region(random_())

        # Tags: skewed popularity, scaled by how much the seller tagged this contact.
        factor = pick_zeal(random_())
        tag_ids = [pk for pk, p in independent if random_() < p * factor]
        for entries in exclusive:
            draw = random_()
            for pk, p in entries:
                draw -= p
                if draw < 0:
                    tag_ids.append(pk)
                    break
        for pk, p in by_stage.get(stage, ()):
            if random_() < p and pk not in tag_ids:
                tag_ids.append(pk)
        region_tag = by_city.get("海外" if province in OVERSEAS else city)
        if region_tag and random_() < REGION_TAG_PROBABILITY and region_tag not in tag_ids:
            tag_ids.append(region_tag)

        surname = SURNAMES[int(random_() * len(SURNAMES))]
        remark = ""
        if random_() >= 0.15:
            words = [remark_names[pk] for pk in tag_ids if pk in remark_names]
            remark = _remark(random_, surname, pick_honorific(random_()), city, words)
        phone = ""
        if random_() < PHONE_SHARE:
            if recent_phones and random_() < PHONE_DUPLICATE:
                phone = recent_phones[int(random_() * len(recent_phones))]
            else:
                phone = "+86" + PHONE_PREFIXES[int(random_() * len(PHONE_PREFIXES))] + str(10**8 + int(random_() * 10**8))[1:]
                if len(recent_phones) < 1000:
                    recent_phones.append(phone)
                else:
                    recent_phones[int(random_() * 1000)] = phone
        batch.contacts.append((
            pick_account(random_()),
            _nickname(random_, surname),
            remark,
            _description(random_, city) if random_() < 0.35 else "",
            _wechat_id(rng),
            phone,
            pick_gender(random_()),
            f"{province} {city}" if province != city else province,
            added_at,
            pick_source(random_()),
            stage,
        ))
        batch.tags.extend([(index, pk, added_at) for pk in tag_ids])

        for _ in range(order_count):
            item, price = pick_product(random_())
            quantity = 1 if random_() < 0.75 else 2 + int(random_() * 2)
            while quantity > 1 and price * quantity > MAX_AMOUNT:
                quantity -= 1
            discount = DISCOUNTS[int(random_() * len(DISCOUNTS))]
            amount = min(MAX_AMOUNT, max(MIN_AMOUNT, round(price * quantity * discount, 2)))
            channel = pick_channel(random_())
            prefix = ORDER_NUMBER_PREFIX.get(channel, "")
            external_id = prefix + str(10**16 + int(random_() * 10**16))[1:] if prefix and random_() < 0.8 else ""
            placed_at = datetime.fromtimestamp(added + 60 + int(random_() * max(age - 60, 0)), UTC)
            items = f"{item} ×{quantity}" if quantity > 1 else item
            batch.orders.append((index, Decimal(str(amount)), placed_at, channel, items, external_id))

        if groups and random_() < group_share:
            group = groups[int(random_() * len(groups))]
            if group[1] > 0:
                group[1] -= 1
                joined_at = datetime.fromtimestamp(added + int(random_() * age), UTC)
                batch.memberships.append((index, group[0], joined_at))

        if random_() < NOTE_SHARE:
            for _ in range(1 + int(random_() * 3)):
                kind, body = NOTES[int(random_() * len(NOTES))]
                batch.events.append((index, str(kind), body, datetime.fromtimestamp(added + int(random_() * age), UTC)))

        if len(batch.contacts) == BATCH_SIZE:
            yield batch
            batch = _Batch()
    if batch.contacts:
        yield batch


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _one(random_, items):
    return items[int(random_() * len(items))]


def _given(random_) -> str:
    first = _one(random_, GIVEN_CHARS)
    return first if random_() < 0.4 else first + _one(random_, GIVEN_CHARS)


def _nickname(random_, surname: str) -> str:
    kind = random_()
    if kind < 0.30:
        return surname + _given(random_)
    if kind < 0.55:
        return _one(random_, CUTE_NICKNAMES)
    if kind < 0.75:
        core = _one(random_, CUTE_NICKNAMES) if random_() < 0.7 else surname + _given(random_)
        emoji, where = _one(random_, EMOJIS), random_()
        return emoji + core if where < 0.5 else core + emoji if where < 0.8 else emoji + core + emoji
    if kind < 0.87:
        name, roll = _one(random_, ENGLISH_NAMES), random_()
        if roll < 0.2:
            return f"{name} {_one(random_, PINYIN_SURNAMES).capitalize()}"
        return name.lower() if roll < 0.3 else name
    if kind < 0.98:
        return _one(random_, BUSINESS_STYLE).format(
            cute=_one(random_, CUTE_NICKNAMES), surname=surname, given=_given(random_)
        )
    return ""


def _remark(random_, surname: str, honorific: str, city: str, words: list[str]) -> str:
    """Sellers write remarks as 称呼-特征-特征: 张姐-老客-爱买海参, 李哥-大连-礼盒."""
    call = surname + (honorific or _given(random_))
    count = REMARK_WORDS[int(random_() * len(REMARK_WORDS))]
    if count == 0:
        return call
    if city:
        words.append(city)
    words.append(_one(random_, REMARK_EXTRAS))
    words = list(dict.fromkeys(words))
    first = words.pop(int(random_() * len(words)))
    if count == 1 or not words:
        return f"{call}-{first}"
    return f"{call}-{first}-{_one(random_, words)}"


def _description(random_, city: str) -> str:
    return _one(random_, DESCRIPTION_TEMPLATES).format(
        year=_one(random_, (2023, 2024, 2025, 2026)),
        festival=_one(random_, FESTIVALS),
        product=_one(random_, PRODUCTS)[0].split(" ")[0],
        comment=_one(random_, COMMENTS),
        comment2=_one(random_, COMMENTS),
        surname=_one(random_, SURNAMES),
        city=city or "大连",
    )


def _wechat_id(rng: random.Random) -> str:
    """wxid_ and 14 letters or digits, as WeChat assigns them; a quarter chose their own (zhangfang1988)."""
    if rng.random() < 0.75:
        bits = rng.getrandbits(73)
        chars = []
        for _ in range(7):
            bits, pair = divmod(bits, 1296)
            chars.append(BASE36_PAIRS[pair])
        return "wxid_" + "".join(chars)
    random_ = rng.random
    name = _one(random_, PINYIN_SURNAMES) + _one(random_, PINYIN_GIVEN) + _one(random_, ("", "_", ""))
    return name + str(1960 + int(random_() * 46) if random_() < 0.6 else 1 + int(random_() * 999))


# The writers -----------------------------------------------------------------------------------------------------


def _write_copy(workspace_id: int, batch: _Batch, result: SeedResult) -> None:
    """PostgreSQL: reserve the batch's contact ids from the sequence, then COPY every table's rows."""
    ids = bulkload.reserve_ids("crm_contact", len(batch.contacts))
    with connection.cursor() as cursor:
        pg = cursor.connection  # the psycopg connection under Django's wrapper
        with pg.cursor() as raw:
            bulkload.copy_with(raw, "crm_contact",
                  ("id", "workspace_id", *CONTACT_FIELDS, "avatar", "external_id", "created_at", "updated_at"),
                  ((ids[i], workspace_id, *row, "", "", row[8], row[8]) for i, row in enumerate(batch.contacts)))
            bulkload.copy_with(raw, "crm_contacttag", ("content_object_id", "tag_id", "created_at"),
                  ((ids[i], tag_id, at) for i, tag_id, at in batch.tags))
            bulkload.copy_with(raw, "crm_order",
                  ("workspace_id", "contact_id", "amount", "placed_at", "channel", "items", "external_id",
                   "created_at"),
                  ((workspace_id, ids[i], amount, placed, channel, items, ext, placed)
                   for i, amount, placed, channel, items, ext in batch.orders))
            bulkload.copy_with(raw, "crm_groupmembership", ("contact_id", "group_id", "joined_at"),
                  ((ids[i], group_id, at) for i, group_id, at in batch.memberships))
            bulkload.copy_with(raw, "crm_timelineevent", ("workspace_id", "contact_id", "kind", "body", "occurred_at"),
                  ((workspace_id, ids[i], kind, body, at) for i, kind, body, at in batch.events))
    _count(batch, result)


def _write_bulk_create(workspace_id: int, batch: _Batch, result: SeedResult) -> None:
    """Other databases: bulk_create, which gives the contacts their ids."""
    contacts = Contact.objects.bulk_create(
        [
            Contact(workspace_id=workspace_id, created_at=row[8], **dict(zip(CONTACT_FIELDS, row)))
            for row in batch.contacts
        ],
        batch_size=BULK_CREATE_BATCH_SIZE,
    )
    ids = [contact.pk for contact in contacts]
    size = BULK_CREATE_BATCH_SIZE
    ContactTag.objects.bulk_create(
        [ContactTag(content_object_id=ids[i], tag_id=tag_id, created_at=at) for i, tag_id, at in batch.tags],
        batch_size=size,
    )
    Order.objects.bulk_create(
        [
            Order(workspace_id=workspace_id, contact_id=ids[i], amount=amount, placed_at=placed, channel=channel,
                  items=items, external_id=ext, created_at=placed)
            for i, amount, placed, channel, items, ext in batch.orders
        ],
        batch_size=size,
    )
    GroupMembership.objects.bulk_create(
        [GroupMembership(contact_id=ids[i], group_id=group_id, joined_at=at) for i, group_id, at in batch.memberships],
        batch_size=size,
    )
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(workspace_id=workspace_id, contact_id=ids[i], kind=kind, body=body, occurred_at=at)
            for i, kind, body, at in batch.events
        ],
        batch_size=size,
    )
    _count(batch, result)


def _count(batch: _Batch, result: SeedResult) -> None:
    result.contacts += len(batch.contacts)
    result.contact_tags += len(batch.tags)
    result.orders += len(batch.orders)
    result.group_members += len(batch.memberships)
    result.timeline_events += len(batch.events)


def _analyze() -> None:
    """Fresh statistics for the planner. Outside a transaction VACUUM also marks the new pages all-visible, which
    index-only scans (the tag filters) need; inside one (tests) only ANALYZE is allowed."""
    if connection.vendor != "postgresql":
        return
    tables = ["crm_contact", "crm_contacttag", "crm_order", "crm_groupmembership", "crm_timelineevent"]
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{command} {table}")
