"""The orders importer: orders matched to their customers by external ID, WeChat ID or phone, an unknown customer
added as a contact, and import_key(), which says when a re-imported order is the same order. How batches are planned,
carried over and written: crm.imports.writing."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.imports.parsing import (
    Memo,
    _Bad,
    _max_length,
    _Row,
    fast_normalize_phone,
    parse_amount,
    parse_channel,
    parse_when,
)
from crm.imports.tables import (
    Statistics,
    insert_rows,
    insert_rows_with_ids,
    lookups_by_key,
    new_row,
    reserve_ids,
    timeline_add,
)
from crm.imports.writing import _CONTACT_LOOKUP_COLUMNS, _MATCH_KEYS, _Importer, _lookup, _lookup_keys
from crm.models import Contact, Order, TimelineEvent


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



class _OrderPlan:
    """What an orders batch writes: its new customers (customer → (line, the contact's fields)), with their ids
    when reserved, and its orders as (row values, contact id, or else the new customer's key)."""

    def __init__(self, new_customers: dict[str, tuple[int, dict]], orders: list[tuple[dict, int | None, str]],
                 customer_ids: list[int] | None):
        self.new_customers, self.orders, self.customer_ids = new_customers, orders, customer_ids


class _OrderImporter(_Importer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_of = Memo(parse_channel)
        self.order_statistics = Statistics(Order, ("workspace_id", "import_key"))
        self.contact_statistics = Statistics(Contact, _CONTACT_LOOKUP_COLUMNS)  # the customers' lookups
        # What the batch just planned writes (see the module's doc): its orders' keys, and its new customers by the
        # key a lookup would find them by.
        self.carried_orders: set[str] = set()
        self.carried_customers: dict[tuple[str, str], int] = {}

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
            values["channel"] = self.channel_of[value]
        if not row.issues:
            values["import_key"] = import_key(
                order_id=values["order_id"], customer=values["customer_phone"] or customer,
                placed_at=values["placed_at"], amount=values["amount"], items=values["items"],
            )
        return row

    def _column(self, field_name: str) -> str:
        indexes = self.fields.get(field_name)
        return self.header[indexes[0]] if indexes else field_name

    def plan_batch(self, rows, result):
        self.order_statistics.refresh()
        self.contact_statistics.refresh()
        keys = {row.values["import_key"] for row in rows}
        # The "not empty" term lets SQLite use the partial unique index (workspace, import_key).
        done = set(
            _lookup(Order.objects.filter(workspace=self.workspace).exclude(import_key=""), "import_key", keys)
            .values_list("import_key", flat=True)
        ) | (keys & self.carried_orders)
        with lookups_by_key():
            by = self._customers(rows)
        for key, pk in self.carried_customers.items():
            by.setdefault(key, pk)
        in_batch: dict[str, int] = {}
        new_customers: dict[str, tuple[int, dict]] = {}  # customer → (line, the new contact's fields)
        orders: list[tuple[dict, int | None, str]] = []  # (row values, contact id, or else the new customer)
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
            result.created += 1
            customer_key = phone or customer
            if not contact_id and customer_key not in new_customers and not self.seen.get(("customer", customer_key)):
                new_customers[customer_key] = (row.line, {
                    "source": Contact.Source.IMPORT, "phone": phone, "external_id": "" if phone else customer,
                    "nickname": values["nickname"] or customer[: _max_length(Contact, "nickname")],
                })
                result.contacts_created += 1
                result.note(row.line, "created", "", "new_customer", _("“%(customer)s” is a new customer: added as a contact.") % {"customer": customer})
            orders.append((values, contact_id, customer_key))

        if self.dry_run:
            for key, line in in_batch.items():
                self.seen[("order", key)] = line
            for customer_key in new_customers:
                self.seen[("customer", customer_key)] = 1
            return None
        plan = _OrderPlan(new_customers, orders, reserve_ids(Contact, len(new_customers)))
        self.order_statistics.added += len(orders)
        self.contact_statistics.added += len(new_customers)
        if plan.customer_ids is not None:
            self.carried_orders = set(in_batch)
            self.carried_customers = {
                ("phone", values["phone"]) if values["phone"] else ("external_id", values["external_id"]): pk
                for (_line, values), pk in zip(new_customers.values(), plan.customer_ids)
            }
        return plan

    def write_plan(self, plan, result):
        now = timezone.now()
        new_customers, orders = plan.new_customers, plan.orders
        created = self._create_customers(new_customers, plan.customer_ids, now)
        defaults = new_row(Order, now, workspace_id=self.workspace.pk, created_by_id=getattr(self.spec.actor, "pk", None))
        insert_rows(Order, tuple(defaults), [
            tuple({
                **defaults, "contact_id": contact_id or created[customer_key], "amount": values["amount"],
                "placed_at": values["placed_at"], "channel": values["channel"], "items": values["items"],
                "external_id": values["order_id"], "import_key": values["import_key"],
            }.values())
            for values, contact_id, customer_key in orders
        ], ignore_conflicts=True)  # an order another import of the same file committed meanwhile is left alone
        timeline_add(
            self.workspace.pk, TimelineEvent.Kind.IMPORTED,
            [(created[customer_key], f"{self.spec.file_name} #{line}") for customer_key, (line, _v) in new_customers.items()],
            self.spec.actor, now,
        )

    def _customers(self, rows: list[_Row]) -> dict[tuple[str, str], int]:
        """The book's contacts the rows' customers name, (key, value) → id: by external ID, WeChat ID or phone, the
        oldest contact winning a tie."""
        raws = {row.values["customer"] for row in rows}
        phones = {row.values["customer_phone"] for row in rows if row.values["customer_phone"]}
        wanted = {"external_id": raws, "wechat_id": raws, "phone": phones}
        found = {row[0]: row for row in _lookup_keys(self.scope, ["pk", *_MATCH_KEYS], wanted)}
        by: dict[tuple[str, str], int] = {}
        for pk, external_id, wechat_id, phone in sorted(found.values()):
            for key, value in (("external_id", external_id), ("wechat_id", wechat_id), ("phone", phone)):
                if value:
                    by.setdefault((key, value), pk)
        return by

    def _create_customers(
        self, customers: dict[str, tuple[int, dict]], ids: list[int] | None, now: datetime
    ) -> dict[str, int]:
        """Write the batch's new customers as contacts (with the ids reserved for them, if any); customer → id."""
        defaults = new_row(
            Contact, now, workspace_id=self.workspace.pk,
            owner_account_id=self.spec.account.pk if self.spec.account else None,
        )
        rows = [tuple({**defaults, **values}.values()) for _line, values in customers.values()]
        return dict(zip(customers, insert_rows_with_ids(Contact, tuple(defaults), rows, ids)))
