"""Segment rules: what each condition matches, AND / OR / NOT and empty groups, nested segments, and validation.

The property test checks the SQL of random rule trees against a plain Python evaluation over the same contacts.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import segments
from crm.models import Contact, Member, Segment
from crm.segments import rule_to_q, segment_contacts, segment_count, validate_rule
from crm.segments import bitmaps
from crm.segments.validation import expand_rule
from tests.factories import (
    ContactFactory,
    CustomerGroupFactory,
    GroupMembershipFactory,
    MemberFactory,
    OrderFactory,
    TagFactory,
    TagGroupFactory,
    WeChatAccountFactory,
    WorkspaceFactory,
    tag_contact,
)

pytestmark = pytest.mark.django_db

NAMES = ("阿花", "阿明", "小李", "王姐", "无号")


def rule_of(*children, op="and", negated=False):
    return {"version": 1, "root": {"op": op, "not": negated, "children": list(children)}}


@dataclass
class Shop:
    workspace: object
    now: datetime
    tags: dict
    level: object
    groups: dict
    accounts: dict
    contacts: dict
    saved: dict

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def local_day(self, days_ago: int) -> str:
        tz = ZoneInfo(self.workspace.time_zone)
        return (timezone.localtime(self.now, tz).date() - timedelta(days=days_ago)).isoformat()


def build_shop(now: datetime) -> Shop:
    """Five customers (and a merged duplicate) of 张姐海味, and one contact of another shop."""
    workspace = WorkspaceFactory(name="张姐海味", slug="zhang-seafood")
    a, b = WeChatAccountFactory(workspace=workspace, name="A号"), WeChatAccountFactory(workspace=workspace, name="B号")
    level = TagGroupFactory(workspace=workspace, name="等级")
    tags = {
        "老客": TagFactory(workspace=workspace, name="老客"),
        "海参": TagFactory(workspace=workspace, name="海参"),
        "等级A": TagFactory(workspace=workspace, name="等级A", group=level),
        "等级B": TagFactory(workspace=workspace, name="等级B", group=level),
        "空": TagFactory(workspace=workspace, name="空"),
    }
    groups = {n: CustomerGroupFactory(workspace=workspace, name=n) for n in ("福利群1", "福利群2")}

    def contact(name, account, stage, source, added_days_ago, **extra):
        return ContactFactory(
            workspace=workspace, remark_name=name, owner_account=account, stage=stage, source=source,
            added_at=now - timedelta(days=added_days_ago, hours=3), **extra,
        )

    ming = contact("阿明", a, "repeat", "organic", 400)
    hua = contact("阿花", a, "vip", "referral", 10, referred_by=ming)
    li = contact("小李", b, "new", "ads", 2, referred_by=ming)
    wang = contact("王姐", b, "engaged", "referral", 100)
    nobody = contact("无号", None, "dormant", "import", 800, referred_by=hua)
    duplicate = contact("重复", a, "vip", "referral", 1, merged_into=hua)
    tag_contact(hua, tags["老客"], tags["海参"])
    tag_contact(ming, tags["老客"], tags["等级A"])
    tag_contact(wang, tags["海参"], tags["等级B"])
    tag_contact(nobody, tags["等级A"])
    tag_contact(duplicate, tags["老客"], tags["空"])
    GroupMembershipFactory(group=groups["福利群1"], contact=hua)
    GroupMembershipFactory(group=groups["福利群2"], contact=wang)
    GroupMembershipFactory(group=groups["福利群2"], contact=duplicate)

    def order(who, days_ago, amount, channel):
        OrderFactory(contact=who, placed_at=now - timedelta(days=days_ago, hours=5), amount=Decimal(amount), channel=channel)

    order(hua, 5, "199.00", "wechat")
    order(hua, 40, "100.00", "taobao")
    order(hua, 400, "50.00", "wechat")
    order(ming, 200, "300.00", "jd")
    order(wang, 95, "88.00", "pdd")
    order(wang, 60, "12.00", "pdd")
    order(duplicate, 1, "999.00", "douyin")

    other = WorkspaceFactory(name="别家店")
    tag_contact(ContactFactory(workspace=other, remark_name="别家"), TagFactory(workspace=other, name="老客"))

    old_customers = Segment.objects.create(
        workspace=workspace, name="老客们", rule=rule_of({"field": "tags", "match": "any", "tags": [tags["老客"].pk]})
    )
    referred_buyers = Segment.objects.create(
        workspace=workspace, name="被推荐的买家", rule=rule_of(
            {"field": "referred_by", "contact": None},
            {"field": "in_segment", "segment": old_customers.pk, "not": True},
            op="or",
        ),
    )
    return Shop(
        workspace=workspace, now=now, tags=tags, level=level, groups=groups, accounts={"A": a, "B": b},
        contacts={c.remark_name: c for c in (hua, ming, li, wang, nobody, duplicate)},
        saved={"old": old_customers, "referred": referred_buyers},
    )


@pytest.fixture
def shop(db):
    return build_shop(timezone.now())


def matched(shop, *children, op="and", negated=False, now=None):
    rule = rule_of(*children, op=op, negated=negated)
    validate_rule(workspace=shop.workspace, rule=rule)
    if now is None:
        return {c.remark_name for c in segment_contacts(workspace=shop.workspace, rule=rule)}
    q = rule_to_q(workspace=shop.workspace, rule=rule, now=now)
    return set(Contact.objects.filter(workspace=shop.workspace, merged_into__isnull=True).filter(q)
               .values_list("remark_name", flat=True))


# Each condition ----------------------------------------------------------------------------------------------------


def test_tags_any_of_matches_contacts_with_either(shop):
    assert matched(shop, {"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk]}) == {"阿花", "阿明"}


def test_tags_all_of_matches_contacts_with_every_one(shop):
    tags = [shop.tags["老客"].pk, shop.tags["海参"].pk]
    assert matched(shop, {"field": "tags", "match": "all", "tags": tags}) == {"阿花"}


def test_tags_has_not_is_the_negated_condition(shop):
    condition = {"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk], "not": True}
    assert matched(shop, condition) == {"小李", "王姐", "无号"}


def test_a_tag_group_matches_contacts_holding_any_tag_of_it(shop):
    assert matched(shop, {"field": "tag_group", "group": shop.level.pk}) == {"阿明", "王姐", "无号"}


def test_customer_group_matches_members_of_any_of_the_groups(shop):
    groups = [g.pk for g in shop.groups.values()]
    assert matched(shop, {"field": "customer_group", "groups": groups}) == {"阿花", "王姐"}


def test_account_matches_its_friends_and_not_account_includes_contacts_without_one(shop):
    a = shop.accounts["A"].pk
    assert matched(shop, {"field": "account", "accounts": [a]}) == {"阿花", "阿明"}
    assert matched(shop, {"field": "account", "accounts": [a], "not": True}) == {"小李", "王姐", "无号"}


def test_stage_and_source_match_any_of_their_values(shop):
    assert matched(shop, {"field": "stage", "values": ["vip", "repeat"]}) == {"阿花", "阿明"}
    assert matched(shop, {"field": "source", "values": ["referral"]}) == {"阿花", "王姐"}


def test_added_at_within_or_older_than_days_and_between_dates(shop):
    assert matched(shop, {"field": "added_at", "within_days": 30}) == {"阿花", "小李"}
    assert matched(shop, {"field": "added_at", "older_than_days": 365}) == {"阿明", "无号"}
    between = {"field": "added_at", "from": shop.local_day(120), "to": shop.local_day(50)}
    assert matched(shop, between) == {"王姐"}


def test_referred_by_anyone_or_by_one_contact(shop):
    assert matched(shop, {"field": "referred_by", "contact": None}) == {"阿花", "小李", "无号"}
    assert matched(shop, {"field": "referred_by", "contact": shop.contacts["阿明"].pk}) == {"阿花", "小李"}


def test_order_count_compares_the_number_of_orders(shop):
    assert matched(shop, {"field": "order_count", "op": ">=", "value": 2}) == {"阿花", "王姐"}
    assert matched(shop, {"field": "order_count", "op": "=", "value": 0}) == {"小李", "无号"}
    assert matched(shop, {"field": "order_count", "op": "<=", "value": 1}) == {"阿明", "小李", "无号"}
    assert matched(shop, {"field": "order_count", "op": "=", "value": 3}) == {"阿花"}


def test_order_count_can_count_only_a_channel_or_a_date_range(shop):
    assert matched(shop, {"field": "order_count", "op": ">=", "value": 1, "channels": ["pdd"]}) == {"王姐"}
    recent = {"field": "order_count", "op": ">=", "value": 2, "from": shop.local_day(50)}
    assert matched(shop, recent) == {"阿花"}


def test_total_spent_compares_the_sum_of_orders_with_nothing_spent_as_zero(shop):
    assert matched(shop, {"field": "total_spent", "op": ">=", "amount": "300"}) == {"阿花", "阿明"}
    assert matched(shop, {"field": "total_spent", "op": "<=", "amount": "100"}) == {"王姐", "小李", "无号"}
    assert matched(shop, {"field": "total_spent", "op": "=", "amount": "100.00"}) == {"王姐"}


def test_last_order_within_older_than_or_never(shop):
    assert matched(shop, {"field": "last_order", "within_days": 30}) == {"阿花"}
    assert matched(shop, {"field": "last_order", "older_than_days": 30}) == {"阿明", "王姐"}
    assert matched(shop, {"field": "last_order", "never": True}) == {"小李", "无号"}


def test_first_order_in_a_date_range(shop):
    assert matched(shop, {"field": "first_order", "from": shop.local_day(500), "to": shop.local_day(300)}) == {"阿花"}
    assert matched(shop, {"field": "first_order", "from": shop.local_day(100)}) == {"王姐"}
    assert matched(shop, {"field": "first_order", "to": shop.local_day(150)}) == {"阿花", "阿明"}


def test_order_channel_matches_contacts_who_ordered_on_any_of_them(shop):
    assert matched(shop, {"field": "order_channel", "channels": ["jd", "taobao"]}) == {"阿花", "阿明"}


def test_in_segment_matches_the_saved_segments_rule_nested_ones_too(shop):
    assert matched(shop, {"field": "in_segment", "segment": shop.saved["old"].pk}) == {"阿花", "阿明"}
    # 被推荐的买家 = has a referrer OR NOT in 老客们
    assert matched(shop, {"field": "in_segment", "segment": shop.saved["referred"].pk}) == {"阿花", "小李", "王姐", "无号"}


# Groups ------------------------------------------------------------------------------------------------------------


def test_and_or_and_not_combine_conditions(shop):
    old = {"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk]}
    sea = {"field": "tags", "match": "any", "tags": [shop.tags["海参"].pk]}
    assert matched(shop, old, sea) == {"阿花"}
    assert matched(shop, old, sea, op="or") == {"阿花", "阿明", "王姐"}
    assert matched(shop, old, sea, op="or", negated=True) == {"小李", "无号"}
    nested = {"op": "or", "not": True, "children": [sea, {"field": "referred_by", "contact": None}]}
    assert matched(shop, old, nested) == {"阿明"}


def test_an_empty_and_group_matches_everyone_and_an_empty_or_group_no_one(shop):
    assert matched(shop) == set(NAMES)
    assert matched(shop, op="or") == set()
    assert matched(shop, negated=True) == set()
    assert matched(shop, op="or", negated=True) == set(NAMES)


def test_an_empty_and_group_inside_an_or_group_makes_it_match_everyone(shop):
    old = {"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk]}
    assert matched(shop, old, {"op": "and", "children": []}, op="or") == set(NAMES)
    assert matched(shop, old, {"op": "or", "children": []}, op="or") == {"阿花", "阿明"}
    assert matched(shop, old, {"op": "or", "not": True, "children": []}) == {"阿花", "阿明"}


def test_segments_leave_out_merged_duplicates_and_other_workspaces(shop):
    names = {c.remark_name for c in segment_contacts(workspace=shop.workspace, rule=segments.empty_rule())}
    assert names == set(NAMES)
    assert segment_count(workspace=shop.workspace, rule=segments.empty_rule()) == 5


def test_counts_of_conditions_and_their_negations_leave_out_merged_duplicates_and_other_workspaces(shop):
    vip = {"field": "stage", "values": ["vip"]}  # the merged duplicate is a VIP too
    for rule in (rule_of(vip), rule_of(vip, negated=True), rule_of({**vip, "not": True}),
                 rule_of({"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk]}, {**vip, "not": True})):
        expected = segment_contacts(workspace=shop.workspace, rule=rule).count()
        assert segment_count(workspace=shop.workspace, rule=rule) == expected, rule


def test_a_new_combination_of_counted_conditions_is_counted_from_the_cache(shop, django_assert_num_queries):
    old = {"field": "tags", "match": "any", "tags": [shop.tags["老客"].pk]}
    recent = {"field": "last_order", "within_days": 90}
    segment_count(workspace=shop.workspace, rule=rule_of(old))
    segment_count(workspace=shop.workspace, rule=rule_of(recent))
    combined = rule_of(old, {**recent, "not": True})
    expected = segment_contacts(workspace=shop.workspace, rule=combined).count()
    with django_assert_num_queries(0):  # no contact, tag link or order is read again
        assert segment_count(workspace=shop.workspace, rule=combined) == expected


def test_a_segment_is_one_query_with_no_ids_loaded_first(shop, django_assert_num_queries):
    rule = rule_of(
        {"field": "tags", "match": "all", "tags": [shop.tags["老客"].pk, shop.tags["海参"].pk]},
        {"field": "last_order", "within_days": 90},
        {"field": "total_spent", "op": ">=", "amount": "10"},
        {"op": "or", "not": True, "children": [{"field": "order_count", "op": ">=", "value": 5}]},
    )
    with django_assert_num_queries(1):
        assert [c.remark_name for c in segment_contacts(workspace=shop.workspace, rule=rule)] == ["阿花"]


def test_the_count_is_cached_until_the_book_changes(shop, django_assert_num_queries):
    from crm.selectors import book_changed

    rule = rule_of({"field": "stage", "values": ["new"]})
    assert segment_count(workspace=shop.workspace, rule=rule) == 1
    ContactFactory(workspace=shop.workspace, stage="new")
    with django_assert_num_queries(0):
        assert segment_count(workspace=shop.workspace, rule=rule) == 1
    book_changed(workspace_id=shop.workspace.pk)
    assert segment_count(workspace=shop.workspace, rule=rule) == 2


def test_editing_a_nested_segment_changes_the_count_of_the_segment_using_it(shop):
    rule = rule_of({"field": "in_segment", "segment": shop.saved["old"].pk})
    assert segment_count(workspace=shop.workspace, rule=rule) == 2
    shop.saved["old"].rule = rule_of({"field": "stage", "values": ["vip"]})
    shop.saved["old"].save()
    assert segment_count(workspace=shop.workspace, rule=rule) == 1


def test_a_staff_member_limited_to_an_account_counts_only_its_contacts(shop):
    staff = MemberFactory(workspace=shop.workspace, role=Member.Role.STAFF, limited_to_assigned_accounts=True)
    staff.assigned_accounts.add(shop.accounts["B"])
    rule = segments.empty_rule()
    assert segments.segment_count_for_member(member=staff, rule=rule) == 2
    assert {c.remark_name for c in segments.segment_contacts_for_member(member=staff, rule=rule)} == {"小李", "王姐"}
    assert segment_count(workspace=shop.workspace, rule=rule) == 5


# Validation --------------------------------------------------------------------------------------------------------


def errors_of(shop, rule, segment=None) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        validate_rule(workspace=shop.workspace, rule=rule, segment=segment)
    return raised.value.messages


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("{not json", "not valid JSON"),
        ([], "version and a root"),
        ({"version": 1}, "version and a root"),
        ({"version": 2, "root": {"op": "and", "children": []}}, "Unsupported rule version"),
        ({"version": 1, "root": {"field": "stage", "values": ["vip"]}}, "root must be a group"),
        (rule_of(op="xor"), "Unknown group operator"),
        ({"version": 1, "root": {"op": "and", "children": "abc"}}, "children must be a list"),
        (rule_of("stage"), "neither a group nor a condition"),
        (rule_of({"nothing": 1}), "either a group"),
        (rule_of({"field": "birthday"}), "Unknown condition “birthday”"),
        (rule_of({"field": "stage", "values": ["vip"], "colour": "red"}), "Unknown key"),
        (rule_of({"field": "stage", "values": ["vip"], "not": "yes"}), "“not” must be true or false"),
        (rule_of({"field": "stage", "values": []}), "Choose at least one"),
        (rule_of({"field": "stage", "values": ["emperor"]}), "Unknown value “emperor”"),
        (rule_of({"field": "tags", "match": "some", "tags": [1]}), "match “any” or “all”"),
        (rule_of({"field": "tags", "match": "any", "tags": []}), "Choose at least one"),
        (rule_of({"field": "tags", "match": "any", "tags": "1,2"}), "must be a list of ids"),
        (rule_of({"field": "order_count", "op": ">", "value": 1}), "Unknown comparison"),
        (rule_of({"field": "order_count", "op": ">=", "value": -1}), "number of orders"),
        (rule_of({"field": "total_spent", "op": ">=", "amount": "lots"}), "Enter an amount"),
        (rule_of({"field": "last_order", "within_days": 3, "never": True}), "exactly one of"),
        (rule_of({"field": "added_at", "within_days": "x"}), "number of days"),
        (rule_of({"field": "added_at"}), "start date, an end date or both"),
        (rule_of({"field": "first_order", "from": "2024-13-01"}), "is not a date"),
        (rule_of({"field": "first_order", "from": "2024-05-01", "to": "2024-01-01"}), "start date is after"),
        (rule_of({"field": "in_segment", "segment": 99999}), "Unknown segment #99999"),
        (rule_of({"field": "referred_by", "contact": 99999}), "Unknown contact #99999"),
    ],
)
def test_a_malformed_rule_is_refused_with_a_clear_message(shop, rule, expected):
    messages = errors_of(shop, rule)
    assert any(expected in message for message in messages), messages


def test_every_problem_is_reported_each_with_the_path_of_its_node(shop):
    rule = rule_of({"field": "stage", "values": []}, {"op": "and", "children": [{"field": "x"}]})
    with pytest.raises(ValidationError) as raised:
        validate_rule(workspace=shop.workspace, rule=rule)
    assert {error.params["path"] for error in raised.value.error_list} == {"r_0", "r_1_0"}


def test_ids_of_another_workspace_are_refused(shop):
    other = WorkspaceFactory()
    foreign = {
        "tag": {"field": "tags", "match": "any", "tags": [TagFactory(workspace=other).pk]},
        "tag group": {"field": "tag_group", "group": TagGroupFactory(workspace=other).pk},
        "customer group": {"field": "customer_group", "groups": [CustomerGroupFactory(workspace=other).pk]},
        "WeChat account": {"field": "account", "accounts": [WeChatAccountFactory(workspace=other).pk]},
        "contact": {"field": "referred_by", "contact": ContactFactory(workspace=other).pk},
        "segment": {"field": "in_segment", "segment": Segment.objects.create(workspace=other, name="x", rule=segments.empty_rule()).pk},
    }
    for kind, condition in foreign.items():
        messages = errors_of(shop, rule_of(condition))
        assert any(f"Unknown {kind} #" in message for message in messages), (kind, messages)


def test_a_segment_cannot_contain_itself_directly_or_through_another(shop):
    old, referred = shop.saved["old"], shop.saved["referred"]  # referred contains old
    assert "cannot contain itself" in errors_of(shop, rule_of({"field": "in_segment", "segment": old.pk}), old)[0]
    assert "cannot contain itself" in errors_of(shop, rule_of({"field": "in_segment", "segment": referred.pk}), old)[0]
    validate_rule(workspace=shop.workspace, rule=rule_of({"field": "in_segment", "segment": old.pk}), segment=referred)


def test_a_stored_cycle_is_refused_when_counting_not_looped_forever(shop):
    old, referred = shop.saved["old"], shop.saved["referred"]
    Segment.objects.filter(pk=old.pk).update(rule=rule_of({"field": "in_segment", "segment": referred.pk}))
    with pytest.raises(ValidationError, match="contains itself"):
        segment_count(workspace=shop.workspace, rule=rule_of({"field": "in_segment", "segment": old.pk}))


def test_segments_nest_only_so_deep(shop):
    previous = shop.saved["old"]
    for n in range(segments.MAX_SEGMENT_NESTING):
        previous = Segment.objects.create(
            workspace=shop.workspace, name=f"层{n}", rule=rule_of({"field": "in_segment", "segment": previous.pk})
        )
    assert "nest at most" in errors_of(shop, rule_of({"field": "in_segment", "segment": previous.pk}))[0]


def test_validation_returns_the_rule_normalised(shop):
    rule = rule_of({"field": "tags", "match": "any", "tags": [str(shop.tags["海参"].pk), shop.tags["老客"].pk,
                                                              shop.tags["老客"].pk]})
    clean = validate_rule(workspace=shop.workspace, rule=rule)
    assert clean["root"]["children"][0] == {
        "field": "tags", "not": False, "match": "any", "tags": sorted([shop.tags["海参"].pk, shop.tags["老客"].pk])
    }


def test_segment_contacts_refuses_a_malformed_rule_rather_than_guessing(shop):
    with pytest.raises(ValidationError):
        segment_contacts(workspace=shop.workspace, rule={"version": 1, "root": {"op": "and", "children": [{"field": "?"}]}})


def test_the_builder_edits_add_negate_and_remove_nodes():
    rule = segments.empty_rule()
    rule = segments.rule_edit(rule, action="add_condition", path="r", field_name="stage")
    rule = segments.rule_edit(rule, action="add_group", path="r")
    rule = segments.rule_edit(rule, action="add_condition", path="r_1", field_name="no such field")
    rule = segments.rule_edit(rule, action="toggle_not", path="r_1")
    children = rule["root"]["children"]
    assert [c.get("field") or c["op"] for c in children] == ["stage", "or"]
    assert children[1]["not"] is True and children[1]["children"][0]["field"] == "tags"
    rule = segments.rule_edit(rule, action="remove", path="r_0")
    assert [c.get("op") for c in rule["root"]["children"]] == ["or"]
    assert segments.rule_edit(rule, action="remove", path="r") == rule
    assert segments.rule_edit(rule, action="remove", path="r_7_3") == rule


# The property: SQL agrees with a plain Python evaluation -----------------------------------------------------------

FIXED_NOW = datetime(2025, 6, 15, 4, 0, tzinfo=ZoneInfo("UTC"))


@dataclass
class Facts:
    """One contact as plain Python values."""

    name: str
    tags: set
    tag_groups: set
    groups: set
    account: int | None
    stage: str
    source: str
    added_at: datetime
    referred_by: int | None
    orders: list  # (placed_at, amount, channel)


def facts_of(shop) -> list[Facts]:
    out = []
    for contact in Contact.objects.filter(workspace=shop.workspace, merged_into__isnull=True):
        links = list(contact.tag_links.select_related("tag"))
        out.append(Facts(
            name=contact.remark_name,
            tags={link.tag_id for link in links},
            tag_groups={link.tag.group_id for link in links if link.tag.group_id},
            groups=set(contact.group_memberships.values_list("group_id", flat=True)),
            account=contact.owner_account_id, stage=contact.stage, source=contact.source, added_at=contact.added_at,
            referred_by=contact.referred_by_id,
            orders=list(contact.orders.values_list("placed_at", "amount", "channel")),
        ))
    return out


def evaluate(node, facts: Facts, shop) -> bool:
    tz, now = ZoneInfo(shop.workspace.time_zone), shop.now

    def start(day):
        return datetime.combine(date.fromisoformat(day), time.min, tzinfo=tz)

    def in_range(moment, n):
        return ("from" not in n or moment >= start(n["from"])) and (
            "to" not in n or moment < start(n["to"]) + timedelta(days=1))

    def compare(left, op, right):
        return {">=": left >= right, "<=": left <= right, "=": left == right}[op]

    if "children" in node:
        results = [evaluate(child, facts, shop) for child in node["children"]]
        value = all(results) if node["op"] == "and" else any(results)
    else:
        f, n = node["field"], node
        placed = [p for p, _a, _c in facts.orders]
        if f == "tags":
            value = (set(n["tags"]) <= facts.tags) if n["match"] == "all" else bool(set(n["tags"]) & facts.tags)
        elif f == "tag_group":
            value = n["group"] in facts.tag_groups
        elif f == "customer_group":
            value = bool(set(n["groups"]) & facts.groups)
        elif f == "account":
            value = facts.account in n["accounts"]
        elif f == "stage":
            value = facts.stage in n["values"]
        elif f == "source":
            value = facts.source in n["values"]
        elif f == "added_at":
            if "within_days" in n:
                value = facts.added_at >= now - timedelta(days=n["within_days"])
            elif "older_than_days" in n:
                value = facts.added_at < now - timedelta(days=n["older_than_days"])
            else:
                value = in_range(facts.added_at, n)
        elif f == "referred_by":
            value = facts.referred_by is not None if n["contact"] is None else facts.referred_by == n["contact"]
        elif f == "order_count":
            count = sum(1 for p, _a, c in facts.orders if in_range(p, n) and ("channels" not in n or c in n["channels"]))
            value = compare(count, n["op"], n["value"])
        elif f == "total_spent":
            value = compare(sum((a for _p, a, _c in facts.orders), Decimal("0")), n["op"], Decimal(n["amount"]))
        elif f == "last_order":
            if n.get("never"):
                value = not placed
            elif "within_days" in n:
                value = any(p >= now - timedelta(days=n["within_days"]) for p in placed)
            else:
                value = bool(placed) and max(placed) < now - timedelta(days=n["older_than_days"])
        elif f == "first_order":
            value = bool(placed) and in_range(min(placed), n)
        elif f == "order_channel":
            value = any(c in n["channels"] for _p, _a, c in facts.orders)
        elif f == "in_segment":
            value = evaluate(Segment.objects.get(pk=n["segment"]).rule["root"], facts, shop)
        else:
            raise AssertionError(f)
    return value != node.get("not", False)


def condition_strategy(shop):
    tags = [t.pk for t in shop.tags.values()]
    ids = lambda values: st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)  # noqa: E731
    days = st.sampled_from([0, 3, 30, 90, 365])
    day = st.sampled_from([shop.local_day(d) for d in (0, 7, 50, 99, 300, 1000)])
    ops = st.sampled_from([">=", "<=", "="])
    channels = ids(["wechat", "taobao", "pdd", "jd", "douyin"])

    def dated(base):
        return st.fixed_dictionaries(base, optional={"from": day, "to": day}).filter(
            lambda n: "from" not in n or "to" not in n or n["from"] <= n["to"])

    one_of_days = lambda f: st.one_of(  # noqa: E731
        st.fixed_dictionaries({"field": st.just(f), "within_days": days}),
        st.fixed_dictionaries({"field": st.just(f), "older_than_days": days}),
    )
    plain = st.one_of(
        st.fixed_dictionaries({"field": st.just("tags"), "match": st.sampled_from(["any", "all"]), "tags": ids(tags)}),
        st.fixed_dictionaries({"field": st.just("tag_group"), "group": st.just(shop.level.pk)}),
        st.fixed_dictionaries({"field": st.just("customer_group"), "groups": ids([g.pk for g in shop.groups.values()])}),
        st.fixed_dictionaries({"field": st.just("account"), "accounts": ids([a.pk for a in shop.accounts.values()])}),
        st.fixed_dictionaries({"field": st.just("stage"), "values": ids(["new", "vip", "repeat", "dormant"])}),
        st.fixed_dictionaries({"field": st.just("source"), "values": ids(["referral", "ads", "import"])}),
        one_of_days("added_at"),
        dated({"field": st.just("added_at")}).filter(lambda n: "from" in n or "to" in n),
        st.fixed_dictionaries({"field": st.just("referred_by"),
                               "contact": st.sampled_from([None, shop.contacts["阿明"].pk, shop.contacts["阿花"].pk])}),
        dated({"field": st.just("order_count"), "op": ops, "value": st.integers(0, 3)}),
        st.fixed_dictionaries({"field": st.just("order_count"), "op": ops, "value": st.integers(0, 3), "channels": channels}),
        st.fixed_dictionaries({"field": st.just("total_spent"), "op": ops,
                               "amount": st.sampled_from(["0", "100.00", "300", "349.00", "1000"])}),
        one_of_days("last_order"),
        st.just({"field": "last_order", "never": True}),
        dated({"field": st.just("first_order")}).filter(lambda n: "from" in n or "to" in n),
        st.fixed_dictionaries({"field": st.just("order_channel"), "channels": channels}),
        st.fixed_dictionaries({"field": st.just("in_segment"), "segment": st.sampled_from([s.pk for s in shop.saved.values()])}),
    )
    return st.tuples(plain, st.booleans()).map(lambda pair: {**pair[0], "not": pair[1]})


def group_strategy(children):
    return st.fixed_dictionaries(
        {"op": st.sampled_from(["and", "or"]), "not": st.booleans(), "children": st.lists(children, max_size=3)}
    )


@pytest.fixture
def fixed_shop(db):
    shop = build_shop(FIXED_NOW)
    return shop, facts_of(shop)


PROPERTY = settings(
    max_examples=50, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_sql_agrees_with_python(shop, facts, rule):
    rule = validate_rule(workspace=shop.workspace, rule=rule)
    q = rule_to_q(workspace=shop.workspace, rule=rule, now=shop.now)
    contacts = Contact.objects.filter(workspace=shop.workspace, merged_into__isnull=True)
    got = set(contacts.filter(q).values_list("remark_name", flat=True))
    expected = {f.name for f in facts if evaluate(rule["root"], f, shop)}
    assert got == expected, rule
    # The count is set algebra over each condition's contacts (crm.segments.bitmaps): the same answer.
    expanded = expand_rule(workspace=shop.workspace, rule=rule)
    assert bitmaps.count(workspace=shop.workspace, expanded=expanded, now=shop.now) == len(expected)


@PROPERTY
@given(data=st.data())
def test_random_rule_trees_match_what_a_plain_python_evaluation_says(fixed_shop, data):
    shop, facts = fixed_shop
    tree = st.recursive(condition_strategy(shop), group_strategy, max_leaves=6)
    assert_sql_agrees_with_python(shop, facts, {"version": 1, "root": data.draw(group_strategy(tree), label="root")})


@PROPERTY
@given(data=st.data())
def test_random_flat_rules_match_what_a_plain_python_evaluation_says(fixed_shop, data):
    """Every condition type, often: one to three conditions under one AND / OR."""
    shop, facts = fixed_shop
    root = st.fixed_dictionaries({
        "op": st.sampled_from(["and", "or"]), "not": st.booleans(),
        "children": st.lists(condition_strategy(shop), min_size=1, max_size=3),
    })
    assert_sql_agrees_with_python(shop, facts, {"version": 1, "root": data.draw(root, label="root")})
