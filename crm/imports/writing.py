"""Writing imported rows: an importer parses rows, plans each batch (matches its rows with the book and decides
what to write) and writes the plan, or in a dry run only counts. The base importer and the contacts' are here; the
orders' is in crm.imports.orders.

A batch's plan and its writes are two steps because they may run on two connections at once (crm.imports.importing:
the next batch planned while this one is written). A plan therefore never looks at what the batch before it wrote:
the contacts that batch created or changed are carried over in memory (`carried`), as they were planned, and a
lookup that finds one of them takes the carried version. Only the batch just planned is carried: the one before it
has committed by the time the next plan runs. Carrying needs the new rows' ids before they are written, which
PostgreSQL gives (reserve_ids); on SQLite a plan is written at once, in the same transaction, and nothing is carried.

How a batch is written, and why (an import of 100,000 new contacts writes about 400,000 rows: the contacts, two
tags each, and an "imported" timeline event each that names its tags):
- The contacts the batch's rows name are looked up with one query per identity key (external ID, WeChat ID,
  phone) for the whole batch, read as tuples: no model instances.
- Rows are matched and merged in Python, into plain dicts (_Target), not Contact instances: building 100,000
  model instances cost more than writing them.
- New rows go to PostgreSQL with binary COPY (crm.imports.tables, on crm.bulkload as the seed): one stream per
  table and batch instead of a parsed and planned multi-row INSERT per thousand rows. The new contacts' ids are
  reserved from the table's sequence first, so their tags and timeline events can name them in the same
  transaction. SQLite gets one executemany, and the ids of the rows it wrote.
- Changed contacts are updated with one statement per set of changed fields (tables.update_rows).

BATCH_SIZE is read from the crm.imports package when used, so that it can be changed there (tests do).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import attribution, events, selectors, services
from crm.imports.mapping import CONTACT_IDENTITY
from crm.imports.parsing import (
    _GENDERS,
    TAG_SEPARATORS,
    Memo,
    _Bad,
    _max_length,
    _Row,
    fast_normalize_phone,
    parse_source,
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
    update_rows,
)
from crm.models import Contact, ContactTag, Tag, TimelineEvent

if TYPE_CHECKING:
    from crm.imports.importing import ImportResult, ImportSpec


# The importers ---------------------------------------------------------------------------------------------------


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
        # (cell index, column name) of each field, worked out once: parse() runs for every row.
        self.sources = {name: [(index, header[index]) for index in indexes] for name, indexes in self.fields.items()}
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
        cells = row.cells
        for index, column in self.sources.get(field_name, ()):
            value = cells[index].strip() if index < len(cells) else ""
            if value:
                yield column, value

    def _text(self, row: _Row, field_name: str, model=Contact, model_field: str | None = None) -> str:
        cells = row.cells
        for index, column in self.sources.get(field_name, ()):
            value = cells[index].strip() if index < len(cells) else ""
            if value:
                limit = _max_length(model, model_field or field_name)
                if limit and len(value) > limit:
                    row.issues.append((column, "too_long", _("longer than %(max)d characters.") % {"max": limit}))
                    return ""
                return value
        return ""

    def parse(self, line: int, cells: list[str]) -> _Row:
        raise NotImplementedError

    def plan_batch(self, rows: list[_Row], result: ImportResult) -> object | None:
        """Match the rows with the book and count them in `result`; what to write (None in a dry run)."""
        raise NotImplementedError

    def write_plan(self, plan, result: ImportResult) -> None:
        """Write what plan_batch() planned, in the caller's transaction (maybe on another thread and connection)."""
        raise NotImplementedError

    def _tags(self, names) -> dict[str, Tag]:
        """The workspace's tags of these names (with their groups), the missing ones created."""
        missing = [name for name in names if name not in self.tag_cache]
        if missing:
            for tag in Tag.objects.filter(workspace=self.workspace, name__in=missing).select_related("group"):
                self.tag_cache[tag.name] = tag
            for name in missing:
                if name not in self.tag_cache:
                    self.tag_cache[name] = services.tag_get_or_create(workspace=self.workspace, name=name)
        return {name: self.tag_cache[name] for name in names}


_MATCH_KEYS = ("external_id", "wechat_id", "phone")
_CONTACT_LOOKUP_COLUMNS = ("workspace_id", "merged_into_id", *_MATCH_KEYS)  # what the batch lookups filter on
_NOT_CONTACT_COLUMNS = ("tags", "referral_code")  # fields a row may map that are written elsewhere


def _lookup(rows: QuerySet, key: str, values: set) -> QuerySet:
    """Rows whose `key` is one of `values`: one key per query and no ORDER BY, so the (workspace, key) index serves
    it (an OR of several keys, or the model's default order, makes SQLite scan the whole workspace per batch). The
    values go as a set: filter() walks a list or tuple value by value looking for expressions."""
    return rows.filter(**{f"{key}__any_of": values}).order_by()


def _lookup_keys(rows: QuerySet, columns: list[str], wanted: dict[str, set]) -> list[tuple]:
    """`columns` of the rows whose key is one of its values, for each key (key → values), a row two keys find
    twice: one query (_keys_query)."""
    query = _keys_query(rows, columns, wanted)
    return list(query) if query is not None else []


def _keys_query(rows: QuerySet, columns: list[str], wanted: dict[str, set]) -> QuerySet | None:
    """The lookups of the keys joined by UNION ALL, each still served by its own index, so a batch costs one round
    trip instead of one per key. A key's index holds only the contacts that have one, which each lookup says in the
    index's words (`NOT key = ''`): the database cannot prove it from thousands of values."""
    queries = [
        _lookup(rows.exclude(**{key: ""}), key, values).values_list(*columns) for key, values in wanted.items() if values
    ]
    if len(queries) > 1:
        return queries[0].union(*queries[1:], all=True)
    return queries[0] if queries else None


_CONTACT_TEXT = ("nickname", "remark_name", "wechat_id", "region", "description", "external_id", "union_id")
# What a contact's field holds when nothing was written to it: what a row's value is compared with.
_CONTACT_DEFAULTS = {
    name: Contact._meta.get_field(name).get_default()
    for name in (*_CONTACT_TEXT, "phone", "gender", "source")
}


class _Target:
    """A contact a batch's rows land on: one of the book's (`pk` set, `values` its fields as loaded) or one an
    earlier row of the batch creates (`pk` None until written, `values` what it will be written with)."""

    __slots__ = ("pk", "values", "line", "tags", "changed", "imported", "referral")

    def __init__(self, pk: int | None, values: dict, line: int = 0):
        self.pk, self.values, self.line = pk, values, line  # line: the row that creates it
        self.tags: set[str] = set()  # tag names it holds, or will once the batch is written
        self.changed: set[str] = set()  # fields of a book contact that the batch changes
        self.imported = False  # has its "imported" timeline event planned
        self.referral: tuple[str, str] | None = None  # (column, code) of the row that creates it

    def carried(self) -> _Target:
        """A copy of a contact the batch writes, for the next batch's plan (which must not touch this batch's)."""
        copy = _Target(self.pk, dict(self.values), self.line)
        copy.tags = set(self.tags)
        return copy

    @property
    def display_name(self) -> str:
        values = self.values  # as Contact.display_name
        return values.get("remark_name") or values.get("nickname") or values.get("wechat_id") or f"#{self.pk}"


class _Plan:
    """What a batch writes: new contacts, changed ones, tags to add (name → contacts, in the order first met),
    and the contacts that get an "imported" timeline event, with the line that touched them first."""

    def __init__(self):
        self.new: list[_Target] = []
        self.changed: list[_Target] = []
        self.tags: dict[str, list[_Target]] = {}
        self.imported: list[tuple[_Target, int]] = []
        # Made once the plan is complete: the time it is written with, the new contacts' columns and rows, and the
        # "imported" events' contacts and texts.
        self.now: datetime | None = None
        self.new_rows: tuple[tuple[str, ...], list[tuple]] = ((), [])
        self.notes: list[tuple[_Target, str]] = []

    def add_tags(self, target: _Target, names: list[str]) -> None:
        for name in names:
            self.tags.setdefault(name, []).append(target)
        target.tags.update(names)

    def mark_imported(self, target: _Target, line: int) -> None:
        if not target.imported:
            target.imported = True
            self.imported.append((target, line))


class _ContactImporter(_Importer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each mapped text field's cell, column and longest value, worked out once: parse() runs for every row.
        self.text_cells = [
            (name, index, column, _max_length(Contact, name))
            for name in _CONTACT_TEXT for index, column in self.sources.get(name, ())
        ]
        self.source_of = Memo(parse_source)
        self.contact_statistics = Statistics(Contact, _CONTACT_LOOKUP_COLUMNS)
        self.tags_note = _("tags: %(tags)s")  # translated once, written on 100,000 events
        # The contacts the batch just planned creates or changes, as it leaves them: by id, and by match key.
        self.carried: dict[int, _Target] = {}
        self.carried_keys: dict[tuple[str, str], _Target] = {}
        self.carried_untagged: dict[int, set[str]] = {}  # tags its writes take off them (exclusive groups)

    def parse(self, line, cells):
        row = _Row(line, cells)
        values, count = row.values, len(cells)
        for name, index, column, limit in self.text_cells:  # _text(), unrolled: the most common cells
            if index < count and name not in values and (value := cells[index].strip()):
                if len(value) > limit:
                    row.issues.append((column, "too_long", _("longer than %(max)d characters.") % {"max": limit}))
                else:
                    values[name] = value
        for column, value in self._cells(row, "phone"):
            try:
                values["phone"] = fast_normalize_phone(value)
            except ValidationError:
                row.issues.append((column, "bad_phone", _("“%(value)s” is not a phone number.") % {"value": value}))
        for column, value in self._cells(row, "gender"):
            values["gender"] = _GENDERS.get(value.lower(), Contact.Gender.UNKNOWN)
        for column, value in self._cells(row, "source"):
            values["source"] = self.source_of[value]
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
        for column, value in self._cells(row, "referral_code"):
            row.referral = (column, value.strip())
        if not row.issues and not any(values.get(name) for name in CONTACT_IDENTITY):
            row.issues.append(("", "no_identity", _("no nickname, remark name, WeChat ID, phone or external ID.")))
        return row

    def plan_batch(self, rows, result):
        self.contact_statistics.refresh()
        with lookups_by_key():
            index = self._book_contacts(rows)
            self._load_held_tags(rows, index)
        plan = _Plan()
        for row in rows:
            self._place(row, index, plan, result)
        if self.dry_run:
            for target in plan.new:
                for key in _MATCH_KEYS:
                    if value := target.values.get(key):
                        self.seen.setdefault((key, value), target.line)
            return None
        self.contact_statistics.added += len(plan.new)
        ids = reserve_ids(Contact, len(plan.new))
        if ids is not None:
            for target, pk in zip(plan.new, ids):
                target.pk = pk
            self._carry(plan)
        # The rows to write are made here rather than by write_plan(): with the writes on another thread, this one
        # has time to spare while the server writes.
        plan.now = timezone.now()
        plan.new_rows = self._new_rows(plan.new, plan.now)
        new = {id(target) for target in plan.new}
        plan.notes = [(target, self._imported_note(target, line, id(target) in new)) for target, line in plan.imported]
        return plan

    def write_plan(self, plan, result):
        now = plan.now
        self._create(plan.new, plan.new_rows)
        self._update(plan.changed, now)
        fresh = {target.pk for target in plan.new}
        self._add_tags(plan.tags, fresh, now)
        timeline_add(
            self.workspace.pk, TimelineEvent.Kind.IMPORTED, [(target.pk, note) for target, note in plan.notes],
            self.spec.actor, now,
        )
        self._attribute(plan.new, result)

    def _attribute(self, targets: list[_Target], result: ImportResult) -> None:
        """Who brought each new contact whose row gives a referral code, as the contact form records it
        (crm.attribution: the referrals app). Each in a savepoint: a code that is no good leaves the contact
        imported and the line reported."""
        wanted = [target for target in targets if target.referral]
        if not wanted:
            return
        registered = attribution.current()
        contacts = Contact.objects.in_bulk([target.pk for target in wanted])
        for target in wanted:
            column, code = target.referral
            try:
                if registered is None:
                    raise ValidationError(_("referral codes cannot be recorded here."))
                with transaction.atomic():
                    registered.attribute(contact=contacts[target.pk], code=code, actor=self.spec.actor)
            except ValidationError as error:
                result.note(target.line, "created", column, "bad_referral", " ".join(error.messages))

    def _imported_note(self, target: _Target, line: int, created: bool) -> str:
        """The "imported" event's text: the file and line, and for a contact the import created, its tags (one
        event instead of a "tag added" event per tag, which for 100,000 new contacts was 250,000 rows)."""
        note = f"{self.spec.file_name} #{line}"
        if created and target.tags:
            note += " · " + self.tags_note % {"tags": "、".join(sorted(target.tags))}
        return note

    # Matching

    def _book_contacts(self, rows: list[_Row]) -> dict[tuple[str, str], _Target]:
        """The contacts already in the book that the rows name by external ID, WeChat ID or phone: (key, value) →
        contact, the oldest contact winning a tie (a row takes the first of its keys that finds one: _match). One
        query for the whole batch, reading only the columns the import compares or shows, as tuples."""
        mapped = (name for name in self.fields if name not in _NOT_CONTACT_COLUMNS)
        columns = list(dict.fromkeys(["id", *_MATCH_KEYS, "nickname", "remark_name", *mapped]))
        wanted = {key: {value for row in rows if (value := row.values.get(key))} for key in _MATCH_KEYS}
        found = {row[0]: row for row in _lookup_keys(self.scope, columns, wanted)}
        for key, values in wanted.items():
            for value in values:
                if (carried := self.carried_keys.get((key, value))) is not None:
                    found.setdefault(carried.pk, None)
        index: dict[tuple[str, str], _Target] = {}
        for pk in sorted(found):
            # A contact the batch in flight writes is as it leaves it, not as the database still has it.
            target = self._carried(pk) or _Target(pk, dict(zip(columns[1:], found[pk][1:])))
            for key in _MATCH_KEYS:
                if value := target.values.get(key):
                    index.setdefault((key, value), target)
        return index

    def _carried(self, pk: int) -> _Target | None:
        """A copy of the contact as the batch in flight leaves it, if it writes it: the next plan must not change
        the targets that batch's writer reads."""
        target = self.carried.get(pk)
        return target.carried() if target is not None else None

    def _carry(self, plan: _Plan) -> None:
        """Remember the contacts this plan creates or changes, for the next batch's plan. The targets themselves:
        nothing changes them once planned, and the next plan copies the few it meets (_carried)."""
        tagged = (target for targets in plan.tags.values() for target in targets)
        self.carried = {target.pk: target for target in [*plan.new, *plan.changed, *tagged]}
        self.carried_untagged = self._exclusive_siblings(plan)
        self.carried_keys = {}
        for pk in sorted(self.carried):
            target = self.carried[pk]
            for key in _MATCH_KEYS:
                if value := target.values.get(key):
                    self.carried_keys.setdefault((key, value), target)

    def _exclusive_siblings(self, plan: _Plan) -> dict[int, set[str]]:
        """The tags the plan's writes take off contacts: a tag of an exclusive group takes the group's other tags
        off (_add_tags). Contact id → tag names. Tags the import creates have no group, so the database knows every
        tag that does this."""
        exclusive = dict(
            Tag.objects.filter(workspace=self.workspace, name__in=list(plan.tags), group__exclusive=True)
            .values_list("name", "group_id")
        )
        if not exclusive:
            return {}
        siblings: dict[int, set[str]] = {}
        for group_id, name in Tag.objects.filter(group_id__in=set(exclusive.values())).values_list("group_id", "name"):
            siblings.setdefault(group_id, set()).add(name)
        untagged: dict[int, set[str]] = {}
        for name, targets in plan.tags.items():  # in the order _add_tags links them: the last one stays
            if name in exclusive:
                for target in targets:
                    dropped = untagged.setdefault(target.pk, set())
                    dropped |= siblings[exclusive[name]]
                    dropped.discard(name)
        return untagged

    def _load_held_tags(self, rows: list[_Row], index: dict[tuple[str, str], _Target]) -> None:
        """Which of the batch's tags the matched contacts hold already (those are not added again). The database
        does not have the batch in flight yet: the tags its writes take off are taken off here."""
        names = {name for row in rows for name in row.tags}
        targets = {target.pk: target for target in index.values()}
        if names and targets:
            held = _lookup(ContactTag.objects.filter(tag__name__in=names), "content_object_id", set(targets))
            for contact_id, name in held.values_list("content_object_id", "tag__name"):
                targets[contact_id].tags.add(name)
            for contact_id, untagged in self.carried_untagged.items():
                if contact_id in targets:
                    targets[contact_id].tags -= untagged

    def _match(self, values: dict, index: dict) -> tuple[_Target | None, str]:
        """The contact a row is, and the key that says so. In a dry run a key an earlier batch would have created
        gives (None, key)."""
        for key in _MATCH_KEYS:
            value = values.get(key)
            if not value:
                continue
            if (key, value) in index:
                return index[(key, value)], key
            if (key, value) in self.seen:
                return None, key
        return None, ""

    def _place(self, row: _Row, index: dict, plan: _Plan, result: ImportResult) -> None:
        """Match one row and plan what it changes: a new contact, or new values and tags for one it matches."""
        target, key = self._match(row.values, index)
        if target is None and key:
            # Dry run: an earlier batch's row would have created this contact.
            result.updated += 1
            if result.noting:
                result.note(row.line, "updated", "", "duplicate", _("same %(key)s as line %(line)d: merged into that contact.") % {
                    "key": Contact._meta.get_field(key).verbose_name, "line": self.seen[(key, row.values[key])],
                })
            return
        if target is None:
            target = _Target(None, {"source": Contact.Source.IMPORT, **row.values}, row.line)
            target.referral = row.referral
            plan.new.append(target)
            self._index(index, row, target)
            plan.add_tags(target, row.tags)
            plan.mark_imported(target, row.line)
            result.created += 1
            return
        current = target.values
        changed = [name for name, value in row.values.items() if current.get(name, _CONTACT_DEFAULTS.get(name)) != value]
        new_tags = [name for name in row.tags if name not in target.tags]
        current.update((name, row.values[name]) for name in changed)
        self._index(index, row, target)
        plan.add_tags(target, new_tags)
        label = Contact._meta.get_field(key).verbose_name if result.noting else ""
        if target.pk is None:  # an earlier row of this batch creates it
            if changed or new_tags:
                result.updated += 1
                if result.noting:
                    result.note(row.line, "updated", "", "duplicate", _("same %(key)s as line %(line)d: merged into that contact.") % {"key": label, "line": target.line})
            else:
                result.skipped += 1
                if result.noting:
                    result.note(row.line, "skipped", "", "duplicate", _("same %(key)s as line %(line)d: nothing new.") % {"key": label, "line": target.line})
            return
        if changed or new_tags:
            if changed and not target.changed:
                plan.changed.append(target)
            target.changed.update(changed)
            plan.mark_imported(target, row.line)
            result.updated += 1
            if result.noting:
                result.note(row.line, "updated", "", "matched", _("matches contact “%(name)s” by %(key)s.") % {"name": target.display_name, "key": label})
        else:
            result.skipped += 1
            if result.noting:
                result.note(row.line, "skipped", "", "unchanged", _("matches contact “%(name)s” by %(key)s: nothing new.") % {"name": target.display_name, "key": label})

    @staticmethod
    def _index(index: dict, row: _Row, target: _Target) -> None:
        """Later rows with any of this row's keys are the same contact."""
        for key in _MATCH_KEYS:
            if value := row.values.get(key):
                index.setdefault((key, value), target)

    # Writing

    def _new_rows(self, targets: list[_Target], now: datetime) -> tuple[tuple[str, ...], list[tuple]]:
        """The columns and rows that write the new contacts."""
        if not targets:
            return (), []
        defaults = new_row(
            Contact, now, workspace_id=self.workspace.pk,
            owner_account_id=self.spec.account.pk if self.spec.account else None,
        )
        # {**defaults, **values} keeps the defaults' column order: a target's values are all Contact fields.
        return tuple(defaults), [tuple({**defaults, **target.values}.values()) for target in targets]

    def _create(self, targets: list[_Target], new_rows: tuple[tuple[str, ...], list[tuple]]) -> None:
        """Write the new contacts; on SQLite, give their targets the ids."""
        if not targets:
            return
        columns, rows = new_rows
        reserved = [target.pk for target in targets] if targets[0].pk is not None else None
        for target, pk in zip(targets, insert_rows_with_ids(Contact, columns, rows, reserved)):
            target.pk = pk

    def _update(self, targets: list[_Target], now: datetime) -> None:
        """Write the changed fields of the book's contacts, in one statement."""
        update_rows(Contact, [
            (target.pk, {**{name: target.values[name] for name in target.changed}, "updated_at": now})
            for target in targets
        ])

    def _add_tags(self, plan: dict[str, list[_Target]], fresh: set[int], now: datetime) -> None:
        """Link the planned tags as services.contacts_tag does: a "tag added" timeline event for each new link of a
        contact the book had, and the TAG_ADDED event for automation (follow-up sequences) after the commit. A tag of an exclusive group goes
        through that service itself, which takes the group's other tags off."""
        if not plan:
            return
        tags = self._tags(list(plan))
        links, guarded, added, added_events = [], [], [], []
        for name, targets in plan.items():
            tag = tags[name]
            ids = list(dict.fromkeys(target.pk for target in targets))
            if tag.group_id and tag.group.exclusive:
                services.contacts_tag(workspace=self.workspace, contact_ids=ids, add=[tag], actor=self.spec.actor)
                continue
            for contact_id in ids:  # contacts the batch created (fresh) no one else can have linked meanwhile
                if contact_id in fresh:
                    links.append((contact_id, tag.pk, now))  # named in its "imported" event (_imported_note)
                else:
                    guarded.append((contact_id, tag.pk, now))
                    added.append((contact_id, tag.name))
            added_events.append({"contact_ids": ids, "tag_id": tag.pk})
        columns = ("content_object_id", "tag_id", "created_at")
        insert_rows(ContactTag, columns, links)
        # A book contact may have been given the tag since the batch looked (another member, another import).
        insert_rows(ContactTag, columns, guarded, ignore_conflicts=True)
        timeline_add(self.workspace.pk, TimelineEvent.Kind.TAG_ADDED, added, self.spec.actor, now)
        events.emit_each(events.TAG_ADDED, workspace_id=self.workspace.pk, items=added_events)
