"""Mapping an import file's columns to fields: suggest_mapping() guesses it from Chinese or English headers,
mapping_errors() says what is wrong with one."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import ImportJob

CONTACT_FIELDS = {
    "external_id": gettext_lazy("External ID"),
    "nickname": gettext_lazy("Nickname"),
    "remark_name": gettext_lazy("Remark name"),
    "wechat_id": gettext_lazy("WeChat ID"),
    "phone": gettext_lazy("Phone"),
    "gender": gettext_lazy("Gender"),
    "region": gettext_lazy("Region"),
    "tags": gettext_lazy("Tags"),
    "source": gettext_lazy("Source"),
    "description": gettext_lazy("Description"),
    "added_at": gettext_lazy("Added at"),
    "union_id": gettext_lazy("Union ID"),
    "referral_code": gettext_lazy("Referral code (who brought a new contact)"),
}
ORDER_FIELDS = {
    "customer": gettext_lazy("Customer (external ID, WeChat ID or phone)"),
    "placed_at": gettext_lazy("Placed at"),
    "amount": gettext_lazy("Amount"),
    "order_id": gettext_lazy("Order number"),
    "channel": gettext_lazy("Channel"),
    "items": gettext_lazy("Items"),
    "nickname": gettext_lazy("Customer nickname (for new customers)"),
}
FIELDS = {ImportJob.Kind.CONTACTS: CONTACT_FIELDS, ImportJob.Kind.ORDERS: ORDER_FIELDS}
REQUIRED = {ImportJob.Kind.CONTACTS: (), ImportJob.Kind.ORDERS: ("customer", "placed_at", "amount")}
CONTACT_IDENTITY = ("external_id", "nickname", "remark_name", "wechat_id", "phone")
REPEATABLE = {"tags"}  # several columns may feed the same field

_SYNONYMS = {
    ImportJob.Kind.CONTACTS: {
        "external_id": ["external_id", "externalid", "外部id", "外部编号", "客户id", "客户编号", "会员id", "会员编号", "id"],
        "nickname": ["nickname", "nick", "name", "昵称", "微信昵称", "姓名", "名字", "客户名称", "客户昵称"],
        "remark_name": ["remark_name", "remarkname", "remark", "备注名", "备注", "备注名称"],
        "wechat_id": ["wechat_id", "wechatid", "wechat", "weixin", "wxid", "微信号", "微信", "微信id"],
        "phone": ["phone", "mobile", "tel", "telephone", "手机", "手机号", "手机号码", "电话", "电话号码", "联系电话"],
        "gender": ["gender", "sex", "性别"],
        "region": ["region", "area", "city", "location", "地区", "城市", "省份", "所在地", "地址"],
        "tags": ["tags", "tag", "labels", "label", "标签"],
        "source": ["source", "来源", "客户来源"],
        "description": ["description", "desc", "notes", "note", "描述", "说明", "备注描述"],
        "added_at": ["added_at", "addedat", "添加时间", "添加日期", "加好友时间", "加入时间"],
        "union_id": ["union_id", "unionid"],
        "referral_code": ["referral_code", "referral", "ref_code", "推荐码", "邀请码", "推荐人码"],
    },
    ImportJob.Kind.ORDERS: {
        "customer": ["customer", "customer_id", "customerid", "客户", "顾客", "买家", "客户id", "买家id", "会员", "手机", "手机号"],
        "placed_at": [
            "placed_at", "placedat", "order_date", "date", "time", "created_at", "下单时间", "下单日期", "付款时间",
            "订单时间", "创建时间", "日期", "时间",
        ],
        "amount": ["amount", "total", "price", "金额", "实付", "实付金额", "订单金额", "付款金额", "支付金额", "总价"],
        "order_id": ["order_id", "orderid", "order_no", "orderno", "order", "订单号", "订单编号", "订单id"],
        "channel": ["channel", "platform", "shop", "渠道", "平台", "店铺", "来源"],
        "items": ["items", "item", "product", "products", "goods", "商品", "商品名称", "宝贝", "宝贝标题", "货品", "商品明细"],
        "nickname": ["nickname", "nick", "name", "昵称", "买家昵称", "客户名称", "姓名"],
    },
}


def _header_key(header: str) -> str:
    """“实付金额（元）” → “实付金额”, “Order ID” → “order_id”: case, spaces and bracketed notes left out."""
    key = re.sub(r"[(（\[【].*?[)）\]】]", "", header or "").strip().lower()
    return re.sub(r"[\s\-_.:：]+", "_", key).strip("_")


def suggest_mapping(kind: str, header: list[str]) -> dict[str, str]:
    """Column → field for the columns whose header names a field, each field taken once (tags may repeat)."""
    lookup = {}
    for field_name, words in _SYNONYMS[kind].items():
        for word in words:
            lookup.setdefault(_header_key(word), field_name)
    mapping, taken = {}, set()
    for column in header:
        field_name = lookup.get(_header_key(column))
        if field_name and (field_name not in taken or field_name in REPEATABLE):
            mapping[column] = field_name
            taken.add(field_name)
    return mapping


def mapping_errors(kind: str, header: list[str], columns: dict[str, str]) -> list[str]:
    """What is wrong with a column → field mapping, as sentences; [] when it can be imported."""
    errors = []
    known = FIELDS[kind]
    used: dict[str, str] = {}
    for column, field_name in columns.items():
        if not field_name:
            continue
        if column not in header:
            errors.append(_("The file has no column “%(column)s”.") % {"column": column})
        if field_name not in known:
            errors.append(_("“%(field)s” is not a field you can import.") % {"field": field_name})
        elif field_name in used and field_name not in REPEATABLE:
            errors.append(
                _("“%(a)s” and “%(b)s” are both mapped to %(field)s: choose one.")
                % {"a": used[field_name], "b": column, "field": known[field_name]}
            )
        used.setdefault(field_name, column)
    for field_name in REQUIRED[kind]:
        if field_name not in used:
            errors.append(_("Map a column to %(field)s: it is required.") % {"field": known[field_name]})
    if kind == ImportJob.Kind.CONTACTS and not any(name in used for name in CONTACT_IDENTITY):
        errors.append(_("Map at least a nickname, remark name, WeChat ID, phone or external ID column."))
    return errors
