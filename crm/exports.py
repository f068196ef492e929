"""Contacts out of the book: CSV (streamed, UTF-8 with BOM) and Excel (.xlsx, written to a temporary file).

`export_rows` turns any workspace-scoped contact queryset into rows, a batch at a time, so a million contacts never
sit in memory; the contact list's export and (later) a segment's export both go through it. Every text cell that a
spreadsheet would read as a formula is neutralised (`neutralise`).
"""

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, IntegerField, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Contact, ContactTag, Order

BATCH_SIZE = 2000
# Excel's sheet has 1,048,576 rows; one is the header.
XLSX_MAX_ROWS = 1_048_575
TAG_SEPARATOR = "，"
# What a spreadsheet reads as the start of a formula (or of a cell it re-parses): OWASP's "CSV injection" list.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text that starts like a formula, prefixed with a single quote so that it stays text. Other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_header() -> list[str]:
    """The header row, in the active language."""
    return [
        _("ID"),
        _("Remark name"),
        _("Nickname"),
        _("WeChat ID"),
        _("Phone"),
        _("Gender"),
        _("Region"),
        _("WeChat account"),
        _("Lifecycle stage"),
        _("Source"),
        _("Added at"),
        _("Tags"),
        _("Order count"),
        _("Total spent"),
        _("Last order at"),
    ]


def _with_order_totals(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Order count, total and last order date per contact, each from its own subquery: a join over orders would
    multiply the rows (and the sums) by the number of orders."""
    orders = Order.objects.filter(contact=OuterRef("pk")).order_by().values("contact")
    money = DecimalField(max_digits=14, decimal_places=2)
    return contacts.annotate(
        export_order_count=Coalesce(
            Subquery(orders.annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField()), 0
        ),
        export_total_spent=Coalesce(
            Subquery(orders.annotate(total=Sum("amount")).values("total")[:1], output_field=money),
            Decimal("0.00"),
            output_field=money,
        ),
        export_last_order_at=Subquery(orders.annotate(last=Max("placed_at")).values("last")[:1]),
    )


def _batches(contacts: QuerySet[Contact], size: int) -> Iterator[list[Contact]]:
    """The contacts newest friends first (the list's order), a batch at a time by keyset on (added_at, id): no big
    OFFSET, no cursor held open for the whole download. The contact_ws_added index serves it."""
    contacts = contacts.order_by("-added_at", "-id")
    last = None
    while True:
        page = contacts
        if last is not None:
            # The redundant added_at <= bound is what lets PostgreSQL start the index scan there instead of
            # reading (and filtering out) every earlier batch again.
            page = contacts.filter(
                Q(added_at__lt=last.added_at) | Q(added_at=last.added_at, pk__lt=last.pk), added_at__lte=last.added_at
            )
        batch = list(page[:size])
        if batch:
            yield batch
        if len(batch) < size:
            return
        last = batch[-1]


def _local(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A naive local date and time (what a spreadsheet shows), to the second."""
    if value is None:
        return None
    return timezone.localtime(value, zone).replace(tzinfo=None, microsecond=0)


def export_rows(
    contacts: QuerySet[Contact], *, time_zone: str | tzinfo | None = None, batch_size: int = BATCH_SIZE
) -> Iterator[list]:
    """One row per contact (header not included), in the order of export_header().

    `contacts` is already scoped to a workspace and to what the member may see (contact_list, a segment's
    contacts...); merged duplicates are left out here too. Dates are naive in `time_zone` (the workspace's),
    text is neutralised against formulas, numbers stay numbers.
    """
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else (time_zone or timezone.get_current_timezone())
    contacts = _with_order_totals(
        contacts.filter(merged_into__isnull=True)
        .select_related("owner_account")
        .defer("description", "avatar", "created_at", "updated_at")
        .prefetch_related(
            Prefetch(
                "tag_links",
                queryset=ContactTag.objects.select_related("tag").only("id", "content_object_id", "tag", "tag__name"),
            )
        )
    )
    for batch in _batches(contacts, batch_size):
        for contact in batch:
            tags = TAG_SEPARATOR.join(sorted(link.tag.name for link in contact.tag_links.all()))
            row = [
                contact.pk,
                contact.remark_name,
                contact.nickname,
                contact.wechat_id,
                contact.phone,
                str(contact.get_gender_display()),
                contact.region,
                contact.owner_account.name if contact.owner_account else "",
                str(contact.get_stage_display()),
                str(contact.get_source_display()),
                _local(contact.added_at, zone),
                tags,
                contact.export_order_count,
                Decimal(contact.export_total_spent).quantize(Decimal("0.01")),
                _local(contact.export_last_order_at, zone),
            ]
            yield [neutralise(value) for value in row]


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def csv_chunks(rows: Iterable[list], *, header: list[str] | None = None, rows_per_chunk: int = 500) -> Iterator[str]:
    """The CSV as text chunks for a StreamingHttpResponse: a byte order mark first (Excel on Windows then reads
    UTF-8, not the local code page), then the header and the rows, a few hundred at a time."""
    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(neutralise(cell) for cell in (header if header is not None else export_header()))
    count = 0
    for row in rows:
        writer.writerow(_csv_text(value) for value in row)
        count += 1
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(
    rows: Iterable[list], *, header: list[str] | None = None, max_rows: int | None = None, sheet_title: str = ""
):
    """The rows as an .xlsx in an anonymous temporary file (rewound), and whether rows beyond `max_rows` (Excel's
    limit) were left out. openpyxl's write-only mode streams the sheet to disk, so memory stays small."""
    # Imported here: openpyxl takes 0.12 s to import, which every process (web, worker, command) would pay at start.
    from openpyxl import Workbook

    max_rows = XLSX_MAX_ROWS if max_rows is None else max_rows
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title or _("Contacts"))
    sheet.append([neutralise(cell) for cell in (header if header is not None else export_header())])
    written = 0
    truncated = False
    for row in rows:
        if written >= max_rows:
            truncated = True
            break
        sheet.append(row)
        written += 1
    if truncated:
        note = workbook.create_sheet(_("Note"))
        note.append(
            [
                _("Excel holds at most %(max)s rows per sheet: only the first %(max)s contacts are in this file. "
                  "Narrow the filter, or export CSV for all of them.")
                % {"max": f"{max_rows:,}"}
            ]
        )
    output = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(output)
    output.seek(0)
    return output, truncated


def segment_stem(segment) -> str:
    """The segment's name as the start of a file name: letters, digits and Chinese kept, anything else a dash."""
    name = re.sub(r"[^\w]+", "-", segment.name).strip("-_")
    return f"segment-{name}" if name else f"segment-{segment.pk}"


def export_filename(*, stem: str, extension: str, time_zone: str | None = None) -> str:
    """contacts-2026-11-22.csv, dated in the workspace's time zone."""
    zone = ZoneInfo(time_zone) if time_zone else timezone.get_current_timezone()
    return f"{stem}-{timezone.localtime(timezone.now(), zone):%Y-%m-%d}.{extension}"
