"""Writing imported rows: the importers of contacts and of orders parse rows and write them a batch at a time
(or, in a dry run, only count), and import_key() says when a re-imported order is the same order.

BATCH_SIZE is read from the crm.imports package when used, so that it can be changed there (tests do).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import imports, selectors, services
from crm.imports.mapping import CONTACT_IDENTITY
from crm.imports.parsing import (
    _GENDERS,
    TAG_SEPARATORS,
    _Bad,
    _max_length,
    _Row,
    fast_normalize_phone,
    parse_amount,
    parse_channel,
    parse_source,
    parse_when,
)
from crm.models import Contact, ContactTag, Order, Tag, TimelineEvent

if TYPE_CHECKING:
    from crm.imports.importing import ImportResult, ImportSpec


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
            batch_size=imports.BATCH_SIZE,
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
        Contact.objects.bulk_create(new, batch_size=imports.BATCH_SIZE)
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
        Contact.objects.bulk_create(list(new_contacts.values()), batch_size=imports.BATCH_SIZE)
        for order in orders:
            if order.contact_id is None:
                order.contact_id = order._new_customer.pk
        # ignore_conflicts: an order another import of the same file committed meanwhile is left alone.
        Order.objects.bulk_create(orders, batch_size=imports.BATCH_SIZE, ignore_conflicts=True)
        self._timeline_imported(
            [(contact.pk, self.new_customer_lines[id(contact)]) for contact in new_contacts.values()]
        )
