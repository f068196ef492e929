"""Import of contacts and orders from CSV or Excel (.xlsx): reading, column mapping, validation and writing.

The same code serves the web UI (crm.views.imports, through the Celery task tasks.import_job_run) and the command
line (`manage.py crm_import`). The pieces:

- Reading (open_table): the file is streamed, never loaded whole. CSV through csv.reader over a text wrapper, its
  encoding detected (UTF-8 with or without BOM, else GB18030) or chosen, its delimiter (comma, tab, semicolon)
  sniffed; .xlsx through openpyxl in read-only mode. Rows come out as lists of strings with the row number a
  spreadsheet shows (the header is row 1).
- Mapping: each file column maps to a field or is ignored; suggest_mapping() guesses it from Chinese or English
  headers, mapping_errors() says what is wrong with one.
- Importing (import_rows): rows are parsed and checked one by one (a bad row is rejected with its line, column and
  reason, the good ones go on), then matched and written in batches of BATCH_SIZE rows, each batch in its own
  transaction. A dry run does the same matching and counting and writes nothing.

Why batches and not one transaction: a file of 500,000 rows in one transaction would hold SQLite's write lock (and
a long PostgreSQL transaction) for minutes and lose everything on a crash at row 499,999. Each batch commits with
the job's progress (processed_rows and the counters) in the same transaction, so after a crash the workspace holds
exactly the committed batches and the job says how far they reached; resuming starts after them. Re-running a whole
file is harmless as well: contacts are matched (external ID, WeChat ID, phone) and updated rather than added again,
and an order's import_key is unique per workspace.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors, services
from crm.models import Contact, ContactTag, ImportJob, Member, Order, Tag, TimelineEvent, WeChatAccount, Workspace
from crm.phones import normalize_phone

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
BATCH_SIZE = 1000
PREVIEW_ROWS = 10
REPORT_LIMIT = 50  # how many row reasons a dry run or a summary lists; the counts cover every row
DRY_RUN_MAX_ROWS = 20_000  # a dry run in the web page checks at most this many rows (the command line checks all)
CSV_EXTENSIONS = {".csv", ".txt", ".tsv"}
XLSX_EXTENSIONS = {".xlsx", ".xlsm"}
SNIFF_BYTES = 64 * 1024

ENCODING_CHOICES = [
    ("", gettext_lazy("Detect")),
    ("utf-8", "UTF-8"),
    ("gb18030", "GBK / GB18030"),
]


class ImportFileError(Exception):
    """The file as a whole cannot be read or imported; the message says why, for the person who uploaded it."""


# Reading -----------------------------------------------------------------------------------------------------------


def file_format(name: str, head: bytes) -> str:
    """"csv" or "xlsx" from the file's name and first bytes; ImportFileError for anything else."""
    extension = Path(name or "").suffix.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("This is an old Excel .xls file: save it as .xlsx or CSV, then upload that."))
    if extension in XLSX_EXTENSIONS:
        if not head.startswith(b"PK\x03\x04"):
            raise ImportFileError(_("“%(name)s” is not a valid Excel .xlsx file.") % {"name": name})
        return "xlsx"
    if extension in CSV_EXTENSIONS:
        if b"\x00" in head and not head.startswith(_UTF16_BOMS):
            raise ImportFileError(
                _("“%(name)s” does not look like a text CSV file. In Excel choose “Save as: CSV UTF-8”.")
                % {"name": name}
            )
        return "csv"
    raise ImportFileError(
        _("Upload a CSV or Excel (.xlsx) file: “%(name)s” is neither.") % {"name": name or "?"}
    )


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def normalize_encoding(encoding: str) -> str:
    """The codec to read with: '' (detect), utf-8-sig for any UTF-8 (a BOM is dropped), gb18030 for GBK and GB2312
    (GB18030 is a superset of both, so it reads them identically and more), or another codec Python knows."""
    encoding = (encoding or "").strip().lower()
    if not encoding:
        return ""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ImportFileError(_("Unknown encoding “%(encoding)s”.") % {"encoding": encoding}) from None
    if name in {"utf-8", "utf-8-sig"}:
        return "utf-8-sig"
    if name in {"gbk", "gb2312", "gb18030"}:
        return "gb18030"
    return name


def detect_encoding(stream) -> str:
    """utf-8-sig when the whole file decodes strictly as UTF-8 (with or without a BOM), else gb18030.

    Chinese shop and Excel exports are either UTF-8 or GBK; GB18030 is a superset of GBK (and of GB2312), so one
    codec reads all of those. UTF-8 is tried first and strictly over the whole file, a megabyte at a time: GBK text
    is almost never valid UTF-8, while UTF-8 text often decodes as (wrong) GB18030.
    """
    stream.seek(0)
    if stream.read(2) in _UTF16_BOMS:  # Excel's "Unicode text" export
        stream.seek(0)
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    stream.seek(0)
    try:
        while chunk := stream.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        stream.seek(0)


def sniff_delimiter(sample: str) -> str:
    """Comma, tab or semicolon, whichever csv.Sniffer finds in the first lines, checked against the header line."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample cut the last line short
    lines = lines[:50]
    if not lines:
        return ","
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ""
    counts = {candidate: lines[0].count(candidate) for candidate in ",\t;"}
    if delimiter and counts.get(delimiter):
        return delimiter
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _unique_header(cells: list[str]) -> list[str]:
    """Header names stripped, blanks named by position (#3), repeats numbered, so a mapping can key on them."""
    header, seen = [], set()
    for position, cell in enumerate(cells, start=1):
        name = (cell or "").strip() or f"#{position}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name} ({n})", n + 1
        seen.add(candidate)
        header.append(candidate)
    return header


def _excel_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Excel keeps every number as a float: a phone 13812345678 or an order number must not become 1.38e10.
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Table:
    """An open file: its header, its data rows (row number as a spreadsheet shows it, cells), how it was read."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    format: str
    encoding: str = ""
    delimiter: str = ""


@contextmanager
def open_table(stream, *, name: str, encoding: str = "") -> Iterator[Table]:
    """Open a binary, seekable stream as a table. Rows are produced one at a time; empty rows are left out."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    kind = file_format(name, head)
    if kind == "xlsx":
        with _open_xlsx(stream) as table:
            yield table
    else:
        with _open_csv(stream, encoding=encoding) as table:
            yield table


@contextmanager
def _open_csv(stream, *, encoding: str) -> Iterator[Table]:
    codec = normalize_encoding(encoding) or detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=codec, errors="strict", newline="")
    try:
        try:
            sample = text.read(SNIFF_BYTES)
            text.seek(0)
        except UnicodeDecodeError:
            raise ImportFileError(_("The file cannot be read as %(encoding)s: choose its encoding.") % {"encoding": codec}) from None
        if sample.startswith("\ufeff"):  # a BOM in a file read with a chosen non-UTF-8 codec
            sample = sample[1:]
        delimiter = sniff_delimiter(sample)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            first = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as error:
            raise ImportFileError(_("The header row cannot be read: %(error)s") % {"error": error}) from None
        if first is None or not any(cell.strip() for cell in first):
            raise ImportFileError(_("The file is empty: its first row should name the columns."))
        first[0] = first[0].lstrip("\ufeff")
        header = _unique_header(first)

        def rows():
            number = 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError:
                    raise ImportFileError(
                        _("Row %(line)d cannot be read as %(encoding)s: choose the file's encoding.")
                        % {"line": number + 1, "encoding": codec}
                    ) from None
                except csv.Error as error:
                    raise ImportFileError(
                        _("Row %(line)d is not valid CSV: %(error)s") % {"line": number + 1, "error": error}
                    ) from None
                number += 1
                if any(cell.strip() for cell in cells):
                    yield number, cells

        yield Table(header=header, rows=rows(), format="csv", encoding=codec, delimiter=delimiter)
    finally:
        text.detach()


@contextmanager
def _open_xlsx(stream) -> Iterator[Table]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # zipfile.BadZipFile, KeyError, InvalidFileException...: none of them a readable workbook
        raise ImportFileError(_("This Excel file cannot be opened: save it again as .xlsx or CSV.")) from None
    try:
        if not workbook.worksheets:
            raise ImportFileError(_("The Excel file has no sheet."))
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None or not any(_excel_text(cell) for cell in first):
            raise ImportFileError(_("The file is empty: its first row should name the columns."))
        header = _unique_header([_excel_text(cell) for cell in first])

        def rows():
            for number, row in enumerate(values, start=2):
                cells = [_excel_text(cell) for cell in row]
                if any(cells):
                    yield number, cells

        yield Table(header=header, rows=rows(), format="xlsx")
    finally:
        workbook.close()


def count_rows(stream, *, name: str, encoding: str = "") -> int:
    """How many data rows the file has: one streaming pass, for the progress bar."""
    with open_table(stream, name=name, encoding=encoding) as table:
        return sum(1 for _row in table.rows)


@dataclass
class Preview:
    header: list[str]
    rows: list[list[str]]
    format: str
    encoding: str
    delimiter: str


def preview(stream, *, name: str, encoding: str = "", limit: int = PREVIEW_ROWS) -> Preview:
    with open_table(stream, name=name, encoding=encoding) as table:
        rows = []
        for _number, cells in table.rows:
            rows.append((cells + [""] * len(table.header))[: len(table.header)])
            if len(rows) >= limit:
                break
        return Preview(table.header, rows, table.format, table.encoding, table.delimiter)


# Mapping -----------------------------------------------------------------------------------------------------------

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


# Parsing cells -----------------------------------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2})(?:\.\d+)?)?)?"
)


def parse_when(text: str, tz) -> datetime:
    """ISO dates and date-times (with or without an offset), YYYYMMDD, and 2024/5/1 13:45 or 2024年5月1日 as Chinese
    exports write them. A value without an offset is in `tz` (the workspace's time zone)."""
    text = (text or "").strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            when = datetime.strptime(text, "%Y%m%d")
        elif match := _YMD.fullmatch(text):
            parts = [int(part) if part else 0 for part in match.groups()]
            when = datetime(*parts)
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad("bad_date", _("“%(value)s” is not a date.") % {"value": text}) from None
    if not 1900 <= when.year <= 2100:
        raise _Bad("bad_date", _("“%(value)s” is not a plausible date.") % {"value": text})
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


_CURRENCY = re.compile(r"(?i)rmb|cny|[¥￥元,，\s]")
MAX_AMOUNT = Decimal("9999999999.99")  # Order.amount: 12 digits, 2 after the point


def parse_amount(text: str) -> Decimal:
    """“¥1,299.00”, “1299”, “￥88元” → Decimal; negatives and non-numbers refused."""
    cleaned = _CURRENCY.sub("", text or "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise _Bad("bad_amount", _("“%(value)s” is not an amount.") % {"value": text}) from None
    if not amount.is_finite():
        raise _Bad("bad_amount", _("“%(value)s” is not an amount.") % {"value": text})
    if amount < 0:
        raise _Bad("negative_amount", _("“%(value)s” is negative.") % {"value": text})
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount > MAX_AMOUNT:
        raise _Bad("bad_amount", _("“%(value)s” is too large.") % {"value": text})
    return amount


_CHANNELS = [
    (("淘宝", "天猫", "taobao", "tmall"), Order.Channel.TAOBAO),
    (("拼多多", "pdd", "pinduoduo"), Order.Channel.PDD),
    (("京东", "jd", "jingdong"), Order.Channel.JD),
    (("抖音", "douyin", "tiktok"), Order.Channel.DOUYIN),
    (("微信", "wechat", "weixin", "小程序"), Order.Channel.WECHAT),
]


def parse_channel(text: str) -> str:
    value = (text or "").strip().lower()
    for words, channel in _CHANNELS:
        if any(word in value for word in words):
            return channel
    return Order.Channel.OTHER


_GENDERS = {
    "男": Contact.Gender.MALE, "m": Contact.Gender.MALE, "male": Contact.Gender.MALE, "1": Contact.Gender.MALE,
    "女": Contact.Gender.FEMALE, "f": Contact.Gender.FEMALE, "female": Contact.Gender.FEMALE,
    "2": Contact.Gender.FEMALE,
}

_SOURCES = {
    Contact.Source.ORGANIC: ("organic", "自然", "搜索", "主动添加"),
    Contact.Source.REFERRAL: ("referral", "转介绍", "推荐", "介绍", "裂变"),
    Contact.Source.CHANNEL_QR: ("channel_qr", "渠道码", "渠道二维码", "活码"),
    Contact.Source.ADS: ("ads", "广告", "投放"),
    Contact.Source.SHOP: ("shop", "店铺", "包裹卡", "订单"),
    Contact.Source.GROUP: ("group", "群", "群聊"),
    Contact.Source.MANUAL: ("manual", "手动", "手工"),
    Contact.Source.IMPORT: ("import", "导入"),
}


def parse_source(text: str) -> str:
    """A source by its code, English label or a Chinese word for it; anything else counts as “import”."""
    value = (text or "").strip().lower()
    for source, words in _SOURCES.items():
        if value == str(source.label).lower() or any(word == value or (not word.isascii() and word in value) for word in words):
            return source
    return Contact.Source.IMPORT


def _cn_mobile_pattern() -> re.Pattern | None:
    try:
        import phonenumbers

        pattern = phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern
        return re.compile(f"(?:{pattern})")
    except Exception:  # metadata laid out differently in another phonenumbers version: no fast path
        return None


_CN_MOBILE = _cn_mobile_pattern()
_PHONE_PUNCTUATION = re.compile(r"[\s\-()]")


def fast_normalize_phone(raw: str) -> str:
    """crm.phones.normalize_phone, with a shortcut for the common case of a mainland mobile number (138 1234 5678,
    +86 13812345678): matched against phonenumbers' own CN mobile pattern, so the result is the same, ten times
    faster. Anything else goes to normalize_phone."""
    if _CN_MOBILE is not None:
        digits = _PHONE_PUNCTUATION.sub("", raw)
        if digits.startswith("+86"):
            digits = digits[3:]
        if len(digits) == 11 and digits.isascii() and digits.isdigit() and _CN_MOBILE.fullmatch(digits):
            return "+86" + digits
    return normalize_phone(raw)


TAG_SEPARATORS = re.compile(r"[,，、;；\n]+")


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def import_key(*, order_id: str, customer: str, placed_at: datetime, amount: Decimal, items: str) -> str:
    """What makes a re-imported order the same order, at most 64 characters (Order.import_key): “id:” + its order
    number, or, without one, a hash of the row's customer, time, amount and items. Two orders without numbers that
    agree in all four are taken for one."""
    if order_id:
        key = f"id:{order_id}"
        return key if len(key) <= 64 else "idh:" + hashlib.sha256(order_id.encode()).hexdigest()[:60]
    when = placed_at.astimezone(ZoneInfo("UTC")).isoformat()
    row = "\x1f".join([customer, when, f"{amount:.2f}", items])
    return "row:" + hashlib.sha256(row.encode()).hexdigest()[:60]


# Importing ---------------------------------------------------------------------------------------------------------


@dataclass
class ReportLine:
    line: int
    outcome: str  # created, updated, skipped or rejected
    column: str
    code: str
    reason: str


@dataclass
class ImportResult:
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    contacts_created: int = 0  # orders: the new customers
    report: list[ReportLine] = field(default_factory=list)
    stopped_early: bool = False  # a dry run that checked only the first rows

    def note(self, line: int, outcome: str, column: str, code: str, reason: str) -> None:
        if len(self.report) < REPORT_LIMIT:
            self.report.append(ReportLine(line, outcome, column, code, reason))

    def add(self, other: "ImportResult") -> None:
        for name in ("processed", "created", "updated", "skipped", "rejected", "contacts_created"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for entry in other.report:
            if len(self.report) < REPORT_LIMIT:
                self.report.append(entry)

    def summary(self) -> str:
        text = _("%(processed)d rows: %(created)d created, %(updated)d updated, %(skipped)d skipped, %(rejected)d rejected") % {
            "processed": self.processed, "created": self.created, "updated": self.updated,
            "skipped": self.skipped, "rejected": self.rejected,
        }
        if self.contacts_created:
            text += _(" (%(n)d new customers added as contacts)") % {"n": self.contacts_created}
        return text


@dataclass
class ImportSpec:
    """What to import into where: the workspace, the column → field mapping, and for new contacts their WeChat
    account. With a member, contacts are matched among those the member sees (a staff member limited to some
    accounts never touches the others'); without one (the command line), in the whole workspace."""

    workspace: Workspace
    kind: str
    columns: dict[str, str]
    account: WeChatAccount | None = None
    member: Member | None = None
    actor: object = None
    file_name: str = ""


@dataclass
class _Row:
    line: int
    cells: list[str]
    values: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    issues: list[tuple[str, str, str]] = field(default_factory=list)  # (column, code, reason)


def neutralize(cell: str) -> str:
    """A cell Excel would run as a formula (= + - @, or a leading tab / carriage return) gets a leading quote."""
    return "'" + cell if cell and cell[0] in "=+-@\t\r" else cell


class RejectsWriter:
    """The rejected rows as CSV: the original columns, then the row's line and the reasons. The stream is text;
    the caller opens it as UTF-8 with BOM so that Excel on Windows reads the Chinese."""

    def __init__(self, stream, header: list[str]):
        self.writer = csv.writer(stream)
        self.width = len(header)
        self.count = 0
        self.writer.writerow([neutralize(cell) for cell in header] + [_("line"), _("reason")])

    def write(self, row: _Row) -> None:
        cells = (row.cells + [""] * self.width)[: max(self.width, len(row.cells))]
        reason = "; ".join(f"{column}: {reason}" if column else reason for column, _code, reason in row.issues)
        self.writer.writerow([neutralize(cell) for cell in cells] + [str(row.line), neutralize(reason)])
        self.count += 1


class _Importer:
    """Parses rows of one kind and writes them a batch at a time (or, in a dry run, only counts)."""

    def __init__(self, spec: ImportSpec, header: list[str], *, dry_run: bool):
        self.spec, self.header, self.dry_run = spec, header, dry_run
        self.workspace = spec.workspace
        self.tz = ZoneInfo(self.workspace.time_zone or settings.TIME_ZONE)
        self.fields: dict[str, list[int]] = {}
        for column, field_name in spec.columns.items():
            if field_name and column in header:
                self.fields.setdefault(field_name, []).append(header.index(column))
        self.scope = (
            selectors.contacts_visible_to(member=spec.member)
            if spec.member
            else Contact.objects.filter(workspace=self.workspace, merged_into__isnull=True)
        )
        self.tag_cache: dict[str, Tag] = {}
        # A dry run writes nothing, so what earlier batches "created" is remembered here instead of found in the
        # database: key → line of the row that created it.
        self.seen: dict[tuple, int] = {}

    def _cells(self, row: _Row, field_name: str) -> Iterator[tuple[str, str]]:
        for index in self.fields.get(field_name, ()):
            value = row.cells[index].strip() if index < len(row.cells) else ""
            if value:
                yield self.header[index], value

    def _text(self, row: _Row, field_name: str, model=Contact, model_field: str | None = None) -> str:
        for column, value in self._cells(row, field_name):
            limit = _max_length(model, model_field or field_name)
            if limit and len(value) > limit:
                row.issues.append((column, "too_long", _("longer than %(max)d characters.") % {"max": limit}))
                return ""
            return value
        return ""

    def parse(self, line: int, cells: list[str]) -> _Row:
        raise NotImplementedError

    def write_batch(self, rows: list[_Row], result: ImportResult) -> None:
        raise NotImplementedError

    def _timeline_imported(self, contacts_lines: list[tuple[int, int]]) -> None:
        now = timezone.now()
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    workspace=self.workspace, contact_id=contact_id, kind=TimelineEvent.Kind.IMPORTED,
                    body=f"{self.spec.file_name} #{line}", actor=self.spec.actor, occurred_at=now,
                )
                for contact_id, line in contacts_lines
            ],
            batch_size=BATCH_SIZE,
        )

    def _tag(self, name: str) -> Tag:
        if name not in self.tag_cache:
            self.tag_cache[name] = services.tag_get_or_create(workspace=self.workspace, name=name)
        return self.tag_cache[name]


_MATCH_KEYS = ("external_id", "wechat_id", "phone")


def _lookup(rows: QuerySet, key: str, values) -> QuerySet:
    """Rows whose `key` is one of `values`: one key per query and no ORDER BY, so the (workspace, key) index serves
    it (an OR of several keys, or the model's default order, makes SQLite scan the whole workspace per batch)."""
    return rows.filter(**{f"{key}__in": list(values)}).order_by()
_CONTACT_TEXT = ("nickname", "remark_name", "wechat_id", "region", "description", "external_id", "union_id")


class _ContactImporter(_Importer):
    def parse(self, line, cells):
        row = _Row(line, cells)
        values = row.values
        for name in _CONTACT_TEXT:
            if value := self._text(row, name):
                values[name] = value
        for column, value in self._cells(row, "phone"):
            try:
                values["phone"] = fast_normalize_phone(value)
            except ValidationError:
                row.issues.append((column, "bad_phone", _("“%(value)s” is not a phone number.") % {"value": value}))
        for column, value in self._cells(row, "gender"):
            values["gender"] = _GENDERS.get(value.lower(), Contact.Gender.UNKNOWN)
        for column, value in self._cells(row, "source"):
            values["source"] = parse_source(value)
        for column, value in self._cells(row, "added_at"):
            try:
                values["added_at"] = parse_when(value, self.tz)
            except _Bad as bad:
                row.issues.append((column, bad.code, bad.message))
        for column, value in self._cells(row, "tags"):
            for name in TAG_SEPARATORS.split(value):
                if not name.strip():
                    continue
                try:
                    name = services.clean_tag_name(name)
                except ValidationError as error:
                    row.issues.append((column, "bad_tag", " ".join(error.messages)))
                    continue
                if name not in row.tags:
                    row.tags.append(name)
        if not row.issues and not any(values.get(name) for name in CONTACT_IDENTITY):
            row.issues.append(("", "no_identity", _("no nickname, remark name, WeChat ID, phone or external ID.")))
        return row

    def write_batch(self, rows, result):
        # Contacts already in the book that any row of the batch names, lowest id first (the oldest wins a tie).
        # Contacts already in the book that the rows name, by external ID, then (for the rows still unmatched) WeChat
        # ID, then phone; the oldest contact wins a tie. Only the columns the import reads or writes are loaded.
        index: dict[tuple[str, str], Contact] = {}
        columns = {"id", *_MATCH_KEYS, "nickname", "remark_name", *(name for name in self.fields if name != "tags")}
        for position, key in enumerate(_MATCH_KEYS):
            earlier = _MATCH_KEYS[:position]
            values = {
                row.values[key] for row in rows
                if row.values.get(key) and not any((k, row.values.get(k)) in index for k in earlier)
            }
            if values:
                for contact in sorted(_lookup(self.scope, key, values).only(*columns), key=lambda c: c.pk):
                    for match_key in _MATCH_KEYS:
                        if value := getattr(contact, match_key):
                            index.setdefault((match_key, value), contact)
        tag_names = {name for row in rows for name in row.tags}
        held: set[tuple[int, str]] = set()
        existing_ids = {contact.pk for contact in index.values()}
        if tag_names and existing_ids:
            held = set(
                ContactTag.objects.filter(content_object_id__in=existing_ids, tag__name__in=tag_names).values_list(
                    "content_object_id", "tag__name"
                )
            )

        new: list[Contact] = []
        changed: dict[int, Contact] = {}
        changed_fields: set[str] = set()
        first_line: dict[int, int] = {}  # id(contact) → the line that created or first touched it
        tag_plan: dict[str, list[Contact]] = {}
        imported: list[tuple[Contact, int]] = []
        imported_ids: set[int] = set()

        for row in rows:
            target, how_key, via = None, "", ""
            for key in _MATCH_KEYS:
                value = row.values.get(key)
                if not value:
                    continue
                if (key, value) in index:
                    target, how_key = index[(key, value)], key
                    break
                if (key, value) in self.seen:
                    how_key, via = key, "seen"
                    break
            if via == "seen":
                # Dry run: an earlier batch's row would have created this contact.
                earlier = self.seen[(how_key, row.values[how_key])]
                result.updated += 1
                result.note(row.line, "updated", "", "duplicate", _("same %(key)s as line %(line)d: merged into that contact.") % {
                    "key": Contact._meta.get_field(how_key).verbose_name, "line": earlier,
                })
                continue
            if target is None:
                contact = Contact(
                    workspace=self.workspace, owner_account=self.spec.account,
                    **{"source": Contact.Source.IMPORT, **row.values},
                )
                new.append(contact)
                first_line[id(contact)] = row.line
                for key in _MATCH_KEYS:
                    if row.values.get(key):
                        index.setdefault((key, row.values[key]), contact)
                tag_plan_add(tag_plan, row.tags, contact)
                imported.append((contact, row.line))
                result.created += 1
                continue
            fields_changed = [name for name, value in row.values.items() if getattr(target, name) != value]
            new_tags = [name for name in row.tags if target.pk is None or (target.pk, name) not in held]
            if target.pk is not None:
                held.update((target.pk, name) for name in new_tags)
            for name in fields_changed:
                setattr(target, name, row.values[name])
            for key in _MATCH_KEYS:
                if row.values.get(key):
                    index.setdefault((key, row.values[key]), target)
            tag_plan_add(tag_plan, new_tags, target)
            label = Contact._meta.get_field(how_key).verbose_name
            if target.pk is None:  # an earlier row of this batch creates it
                earlier = first_line[id(target)]
                if fields_changed or new_tags:
                    result.updated += 1
                    result.note(row.line, "updated", "", "duplicate", _("same %(key)s as line %(line)d: merged into that contact.") % {"key": label, "line": earlier})
                else:
                    result.skipped += 1
                    result.note(row.line, "skipped", "", "duplicate", _("same %(key)s as line %(line)d: nothing new.") % {"key": label, "line": earlier})
                continue
            if fields_changed or new_tags:
                if fields_changed:
                    changed[target.pk] = target
                    changed_fields.update(fields_changed)
                if target.pk not in imported_ids:
                    imported_ids.add(target.pk)
                    imported.append((target, row.line))
                result.updated += 1
                result.note(row.line, "updated", "", "matched", _("matches contact “%(name)s” by %(key)s.") % {"name": target.display_name, "key": label})
            else:
                result.skipped += 1
                result.note(row.line, "skipped", "", "unchanged", _("matches contact “%(name)s” by %(key)s: nothing new.") % {"name": target.display_name, "key": label})

        if self.dry_run:
            for contact in new:
                for key in _MATCH_KEYS:
                    if getattr(contact, key):
                        self.seen.setdefault((key, getattr(contact, key)), first_line[id(contact)])
            return
        Contact.objects.bulk_create(new, batch_size=BATCH_SIZE)
        if changed:
            now = timezone.now()
            for contact in changed.values():
                contact.updated_at = now
            Contact.objects.bulk_update(list(changed.values()), sorted(changed_fields | {"updated_at"}), batch_size=500)
        for name, contacts in tag_plan.items():
            services.contacts_tag(
                workspace=self.workspace, contact_ids=list(dict.fromkeys(c.pk for c in contacts)),
                add=[self._tag(name)], actor=self.spec.actor,
            )
        self._timeline_imported([(contact.pk, line) for contact, line in imported])


def tag_plan_add(plan: dict[str, list[Contact]], names: list[str], contact: Contact) -> None:
    for name in names:
        plan.setdefault(name, []).append(contact)


class _OrderImporter(_Importer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_customer_lines: dict[int, int] = {}

    def parse(self, line, cells):
        row = _Row(line, cells)
        values = row.values
        customer = self._text(row, "customer", Contact, "external_id")
        if not list(self._cells(row, "customer")):
            row.issues.append((self._column("customer"), "missing_customer", _("the customer is missing.")))
        values["customer"] = customer
        try:
            values["customer_phone"] = fast_normalize_phone(customer) if re.fullmatch(r"[+\d\s()-]{5,}", customer) else ""
        except ValidationError:
            values["customer_phone"] = ""
        placed = list(self._cells(row, "placed_at"))
        if not placed:
            row.issues.append((self._column("placed_at"), "missing_date", _("the date is missing.")))
        for column, value in placed:
            try:
                values["placed_at"] = parse_when(value, self.tz)
            except _Bad as bad:
                row.issues.append((column, bad.code, bad.message))
        amounts = list(self._cells(row, "amount"))
        if not amounts:
            row.issues.append((self._column("amount"), "missing_amount", _("the amount is missing.")))
        for column, value in amounts:
            try:
                values["amount"] = parse_amount(value)
            except _Bad as bad:
                row.issues.append((column, bad.code, bad.message))
        values["order_id"] = self._text(row, "order_id", Order, "external_id")
        values["items"] = self._text(row, "items", Order)
        values["nickname"] = self._text(row, "nickname", Contact)
        values["channel"] = Order.Channel.OTHER
        for _column, value in self._cells(row, "channel"):
            values["channel"] = parse_channel(value)
        if not row.issues:
            values["import_key"] = import_key(
                order_id=values["order_id"], customer=values["customer_phone"] or customer,
                placed_at=values["placed_at"], amount=values["amount"], items=values["items"],
            )
        return row

    def _column(self, field_name: str) -> str:
        indexes = self.fields.get(field_name)
        return self.header[indexes[0]] if indexes else field_name

    def write_batch(self, rows, result):
        keys = {row.values["import_key"] for row in rows}
        # The "not empty" term lets SQLite use the partial unique index (workspace, import_key).
        done = set(
            _lookup(Order.objects.filter(workspace=self.workspace).exclude(import_key=""), "import_key", keys)
            .values_list("import_key", flat=True)
        )
        raws = {row.values["customer"] for row in rows}
        phones = {row.values["customer_phone"] for row in rows if row.values["customer_phone"]}
        by: dict[tuple[str, str], int] = {}
        found = {}
        for key, values in (("external_id", raws), ("wechat_id", raws), ("phone", phones)):
            if values:
                for found_row in _lookup(self.scope, key, values).values_list("pk", "external_id", "wechat_id", "phone"):
                    found[found_row[0]] = found_row
        for pk, external_id, wechat_id, phone in sorted(found.values()):
            for key, value in (("external_id", external_id), ("wechat_id", wechat_id), ("phone", phone)):
                if value:
                    by.setdefault((key, value), pk)

        in_batch: dict[str, int] = {}
        new_contacts: dict[str, Contact] = {}
        orders: list[Order] = []
        for row in rows:
            values = row.values
            key = values["import_key"]
            earlier = in_batch.get(key) or self.seen.get(("order", key))
            if key in done or earlier:
                result.skipped += 1
                if earlier:
                    result.note(row.line, "skipped", "", "duplicate", _("the same order as line %(line)d.") % {"line": earlier})
                else:
                    result.note(row.line, "skipped", "", "already_imported", _("this order was imported before."))
                continue
            in_batch[key] = row.line
            customer, phone = values["customer"], values["customer_phone"]
            contact_id = (
                by.get(("external_id", customer))
                or by.get(("wechat_id", customer))
                or (by.get(("phone", phone)) if phone else None)
            )
            order = Order(
                workspace=self.workspace, contact_id=contact_id, amount=values["amount"], placed_at=values["placed_at"],
                channel=values["channel"], items=values["items"], external_id=values["order_id"], import_key=key,
                created_by=self.spec.actor,
            )
            result.created += 1
            if not contact_id:
                customer_key = phone or customer
                earlier_customer = self.seen.get(("customer", customer_key))
                if customer_key not in new_contacts and not earlier_customer:
                    new_contacts[customer_key] = Contact(
                        workspace=self.workspace, owner_account=self.spec.account, source=Contact.Source.IMPORT,
                        phone=phone, external_id="" if phone else customer,
                        nickname=values["nickname"] or customer[: _max_length(Contact, "nickname")],
                    )
                    result.contacts_created += 1
                    result.note(row.line, "created", "", "new_customer", _("“%(customer)s” is a new customer: added as a contact.") % {"customer": customer})
                    self.new_customer_lines[id(new_contacts[customer_key])] = row.line
                order._new_customer = new_contacts.get(customer_key)
            orders.append(order)

        if self.dry_run:
            for key, line in in_batch.items():
                self.seen[("order", key)] = line
            for customer_key in new_contacts:
                self.seen[("customer", customer_key)] = 1
            return
        Contact.objects.bulk_create(list(new_contacts.values()), batch_size=BATCH_SIZE)
        for order in orders:
            if order.contact_id is None:
                order.contact_id = order._new_customer.pk
        # ignore_conflicts: an order another import of the same file committed meanwhile is left alone.
        Order.objects.bulk_create(orders, batch_size=BATCH_SIZE, ignore_conflicts=True)
        self._timeline_imported(
            [(contact.pk, self.new_customer_lines[id(contact)]) for contact in new_contacts.values()]
        )


def import_rows(
    spec: ImportSpec,
    stream,
    *,
    name: str,
    encoding: str = "",
    dry_run: bool = False,
    start: int = 0,
    limit: int | None = None,
    rejects: RejectsWriter | Callable | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import (or, with dry_run, only check) the file's rows and return what happened.

    `start` rows are taken as done (committed by an earlier, interrupted run): they are only parsed again so that
    their rejects reach the rejects file once more; they are neither written nor counted. Each batch after them is
    written in its own transaction, and `on_batch(batch result)` runs inside that transaction, so the job's progress
    commits with the batch. `rejects` is a function called with the header that returns a RejectsWriter (or one),
    `progress(rows done)` is called after each batch.
    """
    result = ImportResult()
    with open_table(stream, name=name, encoding=encoding) as table:
        errors = mapping_errors(spec.kind, table.header, spec.columns)
        if errors:
            raise ImportFileError(" ".join(errors))
        importer_class = _ContactImporter if spec.kind == ImportJob.Kind.CONTACTS else _OrderImporter
        importer = importer_class(spec, table.header, dry_run=dry_run)
        writer = rejects(table.header) if callable(rejects) else rejects
        batch: list[_Row] = []
        batch_result = ImportResult()
        seen_rows = 0

        def flush():
            nonlocal batch, batch_result
            if batch:
                importer.write_batch(batch, batch_result)
            if on_batch and not dry_run:
                on_batch(batch_result)
            result.add(batch_result)
            batch, batch_result = [], ImportResult()

        for number, cells in table.rows:
            seen_rows += 1
            if limit is not None and seen_rows > limit:
                result.stopped_early = True
                break
            row = importer.parse(number, cells)
            if seen_rows <= start:
                if row.issues and writer:
                    writer.write(row)
                continue
            batch_result.processed += 1
            if row.issues:
                batch_result.rejected += 1
                for column, code, reason in row.issues:
                    batch_result.note(row.line, "rejected", column, code, reason)
                if writer:
                    writer.write(row)
            else:
                batch.append(row)
            if batch_result.processed >= BATCH_SIZE:
                with transaction.atomic():
                    flush()
                if progress:
                    progress(start + result.processed)
        with transaction.atomic():
            flush()
        if progress:
            progress(start + result.processed)
    if not dry_run and result.processed:
        transaction.on_commit(lambda: selectors.book_changed(workspace_id=spec.workspace.pk))
    return result


# Import jobs (the web UI and its Celery task) ----------------------------------------------------------------------


def job_columns(job: ImportJob) -> dict[str, str]:
    return dict((job.mapping or {}).get("columns") or {})


def job_account_id(job: ImportJob) -> int | None:
    return (job.mapping or {}).get("account")


def import_job_create(*, member: Member, kind: str, upload, encoding: str = "", account: WeChatAccount | None = None) -> ImportJob:
    """Store an uploaded file as a new import job with a suggested mapping; ImportFileError if it is unreadable."""
    if account and not selectors.accounts_visible_to(member=member).filter(pk=account.pk).exists():
        raise ValidationError(_("You cannot import into that WeChat account."))
    if upload.size > MAX_UPLOAD_BYTES:
        raise ImportFileError(_("The file is larger than %(mb)d MB: split it into smaller files.") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
    upload.seek(0)
    file_format(upload.name, upload.read(8))
    upload.seek(0)
    encoding = normalize_encoding(encoding)
    job = ImportJob(
        workspace=member.workspace, created_by=member.user, kind=kind, original_name=Path(upload.name).name[:255],
        encoding=encoding,
    )
    suffix = Path(upload.name).suffix.lower()
    job.file.save(f"import{suffix}", upload, save=False)
    try:
        with job.file.open("rb") as stream:
            header = preview(stream, name=job.original_name, encoding=encoding, limit=1).header
    except ImportFileError:
        job.file.delete(save=False)
        raise
    job.mapping = {"columns": suggest_mapping(kind, header), "account": account.pk if account else None}
    job.save()
    return job


def import_job_preview(*, job: ImportJob, limit: int = PREVIEW_ROWS) -> Preview:
    with job.file.open("rb") as stream:
        return preview(stream, name=job.original_name, encoding=job.encoding, limit=limit)


def import_job_set_mapping(*, job: ImportJob, columns: dict[str, str]) -> ImportJob:
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
        raise ValidationError(_("This import has started: its mapping cannot change."))
    job.mapping = {**(job.mapping or {}), "columns": {column: name for column, name in columns.items() if name}}
    job.save(update_fields=["mapping"])
    return job


def _spec_for(job: ImportJob, member: Member) -> ImportSpec:
    account = None
    if account_id := job_account_id(job):
        account = selectors.accounts_visible_to(member=member).filter(pk=account_id).first()
        if account is None:
            raise ImportFileError(_("The WeChat account chosen for this import is gone or no longer yours."))
    elif not member.sees_all_accounts:
        raise ImportFileError(_("Choose one of your WeChat accounts for the imported contacts."))
    return ImportSpec(
        workspace=job.workspace, kind=job.kind, columns=job_columns(job), account=account, member=member,
        actor=job.created_by, file_name=job.original_name,
    )


def _member_of(job: ImportJob) -> Member | None:
    return Member.objects.select_related("workspace").filter(workspace_id=job.workspace_id, user_id=job.created_by_id).first()


def import_job_check(*, job: ImportJob, member: Member, limit: int | None = DRY_RUN_MAX_ROWS) -> ImportResult:
    """A dry run of the job's first `limit` rows: what would be created, updated, skipped and rejected, and why."""
    spec = _spec_for(job, member)
    with job.file.open("rb") as stream:
        result = import_rows(spec, stream, name=job.original_name, encoding=job.encoding, dry_run=True, limit=limit)
        if result.stopped_early:
            stream.seek(0)
            result.total = count_rows(stream, name=job.original_name, encoding=job.encoding)
        else:
            result.total = result.processed
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(status=ImportJob.Status.CHECKED)
    return result


def import_job_queue(*, job: ImportJob) -> bool:
    """Mark an uploaded or checked job queued (once: a double click queues it once). The caller queues the task."""
    errors = mapping_errors(job.kind, import_job_preview(job=job, limit=0).header, job_columns(job))
    if errors:
        raise ValidationError(errors)
    return bool(
        ImportJob.objects.filter(
            pk=job.pk, status__in=[ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED]
        ).update(
            status=ImportJob.Status.QUEUED, processed_rows=0, created_count=0, updated_count=0, skipped_count=0,
            rejected_count=0, error="",
        )
    )


def import_job_is_stale(job: ImportJob, *, now: datetime | None = None) -> bool:
    """A running job older than the task's hard time limit has no worker any more (it would have been killed)."""
    if job.status != ImportJob.Status.RUNNING or not job.started_at:
        return False
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return (now or timezone.now()) - job.started_at > limit


def import_job_resume(*, job: ImportJob) -> bool:
    """Queue a failed (or dead) job again; it continues after its committed rows (processed_rows)."""
    statuses = [ImportJob.Status.FAILED]
    if import_job_is_stale(job):
        statuses.append(ImportJob.Status.RUNNING)
    return bool(
        ImportJob.objects.filter(pk=job.pk, status__in=statuses).update(status=ImportJob.Status.QUEUED, error="")
    )


def import_job_requeue(*, job_id: int) -> bool:
    """Put a running job back in the queue (its task ran out of time); the next run continues where it stopped."""
    return bool(
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(status=ImportJob.Status.QUEUED)
    )


def _fail(job_id: int, message: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.FAILED, error=message, finished_at=timezone.now())


def import_job_run(*, job_id: int) -> None:
    """Run a queued import job. It is claimed with a conditional update (queued → running), so a task delivered
    twice, or a job already done, runs nothing the second time. SoftTimeLimitExceeded is let through for the task
    to queue the job again; any other error fails the job with a message, leaving the committed batches."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now(), finished_at=None
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
    member = _member_of(job)
    if member is None:
        _fail(job_id, _("The member who uploaded this file is no longer in the workspace."))
        return
    try:
        spec = _spec_for(job, member)
        with job.file.open("rb") as stream:
            total = count_rows(stream, name=job.original_name, encoding=job.encoding)
            ImportJob.objects.filter(pk=job_id).update(total_rows=total)
            stream.seek(0)

            def on_batch(batch: ImportResult) -> None:
                ImportJob.objects.filter(pk=job_id).update(
                    processed_rows=F("processed_rows") + batch.processed,
                    created_count=F("created_count") + batch.created,
                    updated_count=F("updated_count") + batch.updated,
                    skipped_count=F("skipped_count") + batch.skipped,
                    rejected_count=F("rejected_count") + batch.rejected,
                )

            with tempfile.TemporaryFile() as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                holder: list[RejectsWriter] = []

                def rejects(header):
                    holder.append(RejectsWriter(text, header))
                    return holder[0]

                import_rows(
                    spec, stream, name=job.original_name, encoding=job.encoding, start=job.processed_rows,
                    rejects=rejects, on_batch=on_batch,
                )
                text.flush()
                old, new = job.rejects.name, ""
                if holder and holder[0].count:
                    raw.seek(0)
                    job.rejects.save(f"rejects-{job.pk}.csv", File(raw), save=False)
                    new = job.rejects.name
                ImportJob.objects.filter(pk=job_id).update(rejects=new)
                if old and old != new:
                    job.rejects.storage.delete(old)
                text.detach()
    except SoftTimeLimitExceeded:
        raise
    except ImportFileError as error:
        _fail(job_id, str(error))
        return
    except Exception:
        logger.exception("import job %s failed", job_id)
        _fail(job_id, _("The import stopped on an unexpected error. The rows before it are saved: resume to continue."))
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now()
    )


def import_jobs_of(*, member: Member) -> QuerySet[ImportJob]:
    """The import jobs a member may see: all of the workspace's, or for staff limited to some accounts their own."""
    jobs = ImportJob.objects.filter(workspace_id=member.workspace_id)
    if not member.sees_all_accounts:
        jobs = jobs.filter(created_by=member.user)
    return jobs.select_related("created_by")


@dataclass
class RejectsPreview:
    header: list[str]
    rows: list[list[str]]


def rejects_preview(*, job: ImportJob, limit: int = 20) -> RejectsPreview | None:
    """The first rows of the job's rejects file (as written, formula cells neutralised), for the status page."""
    if not job.rejects:
        return None
    try:
        with job.rejects.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            header = next(reader, [])
            rows = [row for _n, row in zip(range(limit), reader)]
            text.detach()
    except FileNotFoundError:
        return None
    return RejectsPreview(header, rows)
