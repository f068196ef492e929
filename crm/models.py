"""The customer book: workspaces and members, WeChat accounts, contacts, tags, groups, orders and the timeline."""

from decimal import Decimal

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase

# INDEX_NOTE. Every index on the big tables (contacts, tag links, memberships, orders, timeline) is paid for on each
# row an import or a sync writes, so none is kept twice: a foreign key whose column leads a two-column index gets no
# single-column index of its own (db_index=False), and a key that is often NULL or empty is indexed only where it
# is set.


class Workspace(models.Model):
    """One seller business. Every other row belongs to exactly one workspace."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")

    def __str__(self):
        return self.name


class Member(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        STAFF = "staff", _("Staff")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.STAFF)
    limited_to_assigned_accounts = models.BooleanField(
        _("only the contacts of assigned accounts"),
        default=False,
        help_text=_("A staff member so limited sees only the contacts of the WeChat accounts assigned to them."),
    )
    assigned_accounts = models.ManyToManyField(
        "WeChatAccount", blank=True, related_name="assigned_members", verbose_name=_("assigned WeChat accounts")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="member_unique_per_workspace")]

    def __str__(self):
        return f"{self.user} @ {self.workspace}"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER

    @property
    def sees_all_accounts(self) -> bool:
        return self.is_owner or not self.limited_to_assigned_accounts


class WeChatAccount(models.Model):
    """One of the seller's WeChat accounts (a "personal IP"); WeChat caps its friends at about 10,000."""

    CAPACITY_WARNING_RATIO = 0.9

    class Channel(models.TextChoices):
        # How messages reach this account's friends (crm/wechat/).
        MANUAL = "manual", _("By hand (send-today queue)")
        OUTBOX = "outbox", _("Outbox (testing, no real sending)")
        WECOM = "wecom", _("WeCom (企业微信)")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="wechat_accounts")
    name = models.CharField(_("name"), max_length=64)
    wechat_id = models.CharField(_("WeChat ID"), max_length=64, blank=True)
    capacity = models.PositiveIntegerField(
        _("friend capacity"), default=10_000, validators=[MinValueValidator(1)]
    )
    channel = models.CharField(
        _("delivery channel"), max_length=10, choices=Channel.choices, default=Channel.MANUAL, db_default="manual"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("WeChat account")
        verbose_name_plural = _("WeChat accounts")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="wechat_account_unique_name"),
        ]

    def __str__(self):
        return self.name


class TagGroup(models.Model):
    """A family of tags such as 客户等级 (A/B/C). In an exclusive group a contact holds at most one tag."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tag_groups")
    name = models.CharField(_("name"), max_length=50)
    exclusive = models.BooleanField(
        _("exclusive"), default=False, help_text=_("A contact holds at most one tag of an exclusive group.")
    )
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["position", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tag_group_unique_name")]

    def __str__(self):
        return self.name


class Tag(TagBase):
    """A workspace's tag. taggit's own Tag is global; this one is unique per workspace, not across them."""

    name = models.CharField(_("name"), max_length=50)
    slug = models.SlugField(_("slug"), max_length=100, allow_unicode=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tags")
    group = models.ForeignKey(
        TagGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="tags", verbose_name=_("tag group")
    )

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="tag_unique_name"),
            models.UniqueConstraint(fields=["workspace", "slug"], name="tag_unique_slug"),
        ]


class Contact(models.Model):
    """A customer as one of the seller's WeChat accounts sees them: the friendship and its remarks."""

    class Gender(models.IntegerChoices):
        # WeChat's own codes.
        UNKNOWN = 0, _("Unknown")
        MALE = 1, _("Male")
        FEMALE = 2, _("Female")

    class Source(models.TextChoices):
        ORGANIC = "organic", _("Organic (searched or added us)")
        REFERRAL = "referral", _("Referral")
        CHANNEL_QR = "channel_qr", _("Channel QR code")
        ADS = "ads", _("Paid ads")
        SHOP = "shop", _("Shop order (parcel card)")
        GROUP = "group", _("Group chat")
        IMPORT = "import", _("Import")
        MANUAL = "manual", _("Added by hand")

    class Stage(models.TextChoices):
        NEW = "new", _("New friend")
        ENGAGED = "engaged", _("Engaged")
        FIRST_ORDER = "first_order", _("First order")
        REPEAT = "repeat", _("Repeat customer")
        VIP = "vip", _("VIP")
        DORMANT = "dormant", _("Dormant")
        LOST = "lost", _("Lost")

    # No index of its own on workspace: every contact index below starts with it (see INDEX_NOTE). No database
    # constraint (migration 0013): a contact's workspace is the one the code that creates it loaded, and only Django
    # deletes a workspace, which deletes its contacts first (on_delete runs in Django); the check cost an import of
    # 100,000 contacts 100,000 trigger calls at its commits, 0.35 s of the server's time.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="contacts", db_index=False, db_constraint=False
    )
    # No database constraint (migration 0012): accounts are never deleted by the app, and Django's delete of one
    # (the admin) still clears the column (SET_NULL); the per-row check cost an import 100,000 trigger calls.
    owner_account = models.ForeignKey(
        WeChatAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("WeChat account"),
        db_constraint=False,
    )
    nickname = models.CharField(_("nickname"), max_length=100, blank=True)
    remark_name = models.CharField(_("remark name"), max_length=100, blank=True)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    wechat_id = models.CharField(_("WeChat ID"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("Stored in E.164 form."))
    gender = models.PositiveSmallIntegerField(_("gender"), choices=Gender.choices, default=Gender.UNKNOWN)
    region = models.CharField(_("region"), max_length=100, blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="avatars/%Y/%m/", blank=True)
    added_at = models.DateTimeField(_("added at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.MANUAL)
    stage = models.CharField(_("lifecycle stage"), max_length=20, choices=Stage.choices, default=Stage.NEW)
    external_id = models.CharField(_("external ID"), max_length=64, blank=True)
    # WeChat's union id, the same for one person across a corp's apps (filled in by WeCom).
    union_id = models.CharField(_("union ID"), max_length=64, blank=True, default="", db_default="")
    referred_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals",
        verbose_name=_("referred by"), db_index=False,
    )
    # A duplicate merged into another contact stays, hidden, so that the merge can be undone.
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_duplicates", db_index=False
    )
    # Set when the customer asked to receive nothing more (replied 退订, or the seller opted them out): no
    # broadcast or follow-up message reaches them.
    opted_out_at = models.DateTimeField(_("opted out at"), null=True, blank=True)
    # Set when the customer deleted the seller's account (删除好友): referral invites depend on friends who stay.
    friend_deleted_at = models.DateTimeField(_("deleted us at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    tags = TaggableManager(through="ContactTag", blank=True, verbose_name=_("tags"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-added_at", "-id"]
        indexes = [
            # The list's default order, and each filter it offers, within one workspace.
            models.Index(fields=["workspace", "-added_at", "-id"], name="contact_ws_added"),
            models.Index(fields=["workspace", "owner_account", "-added_at"], name="contact_ws_account"),
            models.Index(fields=["workspace", "stage", "-added_at"], name="contact_ws_stage"),
            models.Index(fields=["workspace", "source", "-added_at"], name="contact_ws_source"),
            # A contact is found by a key it has: one without (most have no union ID, many no phone or external ID)
            # stays out of the key's index (see INDEX_NOTE). A lookup of many values at once must say
            # `.exclude(key="")` for the index to serve it (crm.imports.writing._lookup); one value proves it.
            *[
                models.Index(fields=["workspace", key], condition=~models.Q(**{key: ""}), name=f"contact_ws_{key}")
                for key in ("phone", "wechat_id", "external_id", "union_id")
            ],
            # Few contacts were referred or merged: the rest stay out of these indexes (see INDEX_NOTE).
            models.Index(fields=["referred_by"], condition=models.Q(referred_by__isnull=False), name="contact_referred_by"),
            models.Index(fields=["merged_into"], condition=models.Q(merged_into__isnull=False), name="contact_merged_into"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        """What WeChat shows: the remark name when the seller gave one, else the nickname."""
        return self.remark_name or self.nickname or self.wechat_id or f"#{self.pk}"


class ContactTag(TaggedItemBase):
    """The through row of a tag on a contact: a real foreign key, not taggit's generic one."""

    # Both served by the two-column indexes below, which start with them (see INDEX_NOTE).
    content_object = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links", db_index=False)
    # No database constraint on the tag (migration 0012): a link to a tag deleted meanwhile is never read (every read
    # goes through the tag), and the check cost an import of 100,000 contacts 200,000 trigger calls. The contact's
    # constraint stays: segments count tag links without a join, so a link must never outlive its contact.
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="contact_links", db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contact tag")
        verbose_name_plural = _("contact tags")
        constraints = [models.UniqueConstraint(fields=["content_object", "tag"], name="contact_tag_unique")]
        # The unique constraint's index serves "tags of this contact"; this one serves "contacts with this tag".
        indexes = [models.Index(fields=["tag", "content_object"], name="contact_tag_by_tag")]


class CustomerGroup(models.Model):
    """A WeChat group chat (拉群) the seller runs from one of their accounts."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customer_groups")
    name = models.CharField(_("name"), max_length=100)
    owner_account = models.ForeignKey(
        WeChatAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer_groups",
        verbose_name=_("owner account"),
    )
    notes = models.TextField(_("notes"), blank=True, max_length=2000)
    members = models.ManyToManyField(Contact, through="GroupMembership", related_name="customer_groups")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="customer_group_unique_name")]

    def __str__(self):
        return self.name


class GroupMembership(models.Model):
    # Both served by the two-column indexes below, which start with them (see INDEX_NOTE).
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="group_memberships", db_index=False)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "contact"], name="group_membership_unique")]
        indexes = [models.Index(fields=["contact", "group"], name="group_membership_by_contact")]


class Order(models.Model):
    class Channel(models.TextChoices):
        TAOBAO = "taobao", _("Taobao")
        PDD = "pdd", _("Pinduoduo")
        JD = "jd", _("JD")
        DOUYIN = "douyin", _("Douyin")
        WECHAT = "wechat", _("WeChat")
        OTHER = "other", _("Other")

    # Both served by the two-column indexes below, which start with them (see INDEX_NOTE).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="orders", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="orders", db_index=False)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, default=Channel.WECHAT)
    items = models.TextField(_("items"), blank=True, max_length=2000)
    external_id = models.CharField(_("order number"), max_length=64, blank=True)
    # What makes a re-imported order the same order: its order number, or a hash of its row when it has none.
    import_key = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Set when the money went back to the customer: a referral reward earned by this order is clawed back.
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    # Who entered it; none for imports from the command line. Indexed only where set, for a user's deletion (see
    # INDEX_NOTE); no database constraint (migration 0015): Django's delete of a user clears it (on_delete).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-placed_at"], name="order_contact_placed"),
            # The contact in the index too: "who ordered within 90 days" is read from the index alone (segments).
            models.Index(fields=["workspace", "-placed_at"], include=["contact"], name="order_ws_placed"),
            models.Index(fields=["created_by"], condition=models.Q(created_by__isnull=False), name="order_created_by"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "import_key"], condition=~models.Q(import_key=""), name="order_unique_import_key"
            ),
        ]


class TimelineEvent(models.Model):
    """Something that happened with a contact. Orders join the timeline from their own table (selectors)."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        FOLLOW_UP = "follow_up", _("Follow-up")
        TAG_ADDED = "tag_added", _("Tag added")
        TAG_REMOVED = "tag_removed", _("Tag removed")
        REMARK_CHANGED = "remark_changed", _("Remark changed")
        GROUP_JOINED = "group_joined", _("Joined a group")
        GROUP_LEFT = "group_left", _("Left a group")
        MERGED = "merged", _("Duplicate merged in")
        MERGE_UNDONE = "merge_undone", _("Merge undone")
        IMPORTED = "imported", _("Imported")
        REPLY = "reply", _("Reply")
        OPTED_OUT = "opted_out", _("Opted out")
        OPTED_IN = "opted_in", _("Opted in again")
        MESSAGE_SENT = "message_sent", _("Message sent")
        # Filled in by the moments app (by hand from a post's page, or by the WeCom channel).
        MOMENT_LIKED = "moment_liked", _("Liked a moments post")
        MOMENT_COMMENTED = "moment_commented", _("Commented on a moments post")
        FRIEND_DELETED = "friend_deleted", _("Deleted us")
        ORDER_REFUNDED = "order_refunded", _("Order refunded")
        REFERRED = "referred", _("Referred by a friend")
        # Written by the reports' lifecycle pass; the body holds the two stage codes, "vip → dormant".
        STAGE_CHANGED = "stage_changed", _("Stage changed")

    # The contact's workspace, copied to scope the events: no constraint or index of its own (migration 0011).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="timeline_events", db_constraint=False, db_index=False
    )
    # Served by timeline_contact_time, which starts with it (see INDEX_NOTE). No database constraint (migration
    # 0012): the timeline is a log read only through its contact, and Django's delete of a contact deletes its events.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="timeline_events", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField(blank=True, max_length=5000)
    # Who did it; none for automation and the command line. Indexed only where set, for a user's deletion (see
    # INDEX_NOTE); no database constraint (migration 0015): Django's delete of a user clears it (on_delete).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, db_index=False, db_constraint=False
    )
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="timeline_contact_time"),
            models.Index(fields=["actor"], condition=models.Q(actor__isnull=False), name="timeline_actor"),
        ]


class Heartbeat(models.Model):
    """When a Celery worker last ran the periodic heartbeat: proof that the broker, worker and beat are wired."""

    name = models.CharField(max_length=50, unique=True)
    last_seen = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)


class Segment(models.Model):
    """A saved audience: a rule tree of conditions joined by AND / OR, with NOT on any node (crm.segments)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=500, blank=True)
    rule = models.JSONField(_("rule"), default=dict)
    rule_version = models.PositiveSmallIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="segment_unique_name")]

    def __str__(self):
        return self.name


class ImportJob(models.Model):
    """One uploaded CSV or Excel file of contacts or orders, checked (dry run) and then imported by Celery."""

    class Kind(models.TextChoices):
        CONTACTS = "contacts", _("Contacts")
        ORDERS = "orders", _("Orders")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        CHECKED = "checked", _("Checked (dry run)")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    encoding = models.CharField(max_length=20, blank=True, help_text=_("Empty: detected from the file."))
    # The language of the member who uploaded it: the worker writes the rows' reasons and the rejects file in it.
    language = models.CharField(max_length=10, blank=True)
    mapping = models.JSONField(default=dict, help_text=_("File column → field."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejects = models.FileField(upload_to="imports/rejects/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ContactMerge(models.Model):
    """A duplicate merged into a survivor, with what moved, so that the merge can be undone."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contact_merges")
    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_received")
    duplicate = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_as_duplicate")
    moved = models.JSONField(default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class OutboxMessage(models.Model):
    """A message the outbox channel "sent": kept here instead of reaching WeChat (development, demos, tests).

    `ref` is the sender's own id for the message (e.g. "delivery:42"); it is unique, so a message handed over
    twice is written once.
    """

    # A development channel's log, written a row per message: no index but the unique ref's, which starts with the
    # workspace (see INDEX_NOTE), and no database constraints, which PostgreSQL would check row by row at each
    # commit (a log of what was sent, not a relation the app reads through). Django's deletes still cascade here;
    # deleting an account or a contact reads the table.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(
        WeChatAccount, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    ref = models.CharField(max_length=64)
    text = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    link = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "ref"], name="outbox_message_unique_ref")]


class ManualSend(models.Model):
    """A card in the send-today queue (今日待发): a message a staff member sends by hand from the account's phone,
    then marks sent or skipped. The manual channel writes one per message; `ref` makes a second hand-over a
    no-op, as for OutboxMessage."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(WeChatAccount, on_delete=models.CASCADE, related_name="manual_sends")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="manual_sends")
    ref = models.CharField(max_length=64)
    text = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    link = models.JSONField(null=True, blank=True)
    due_on = models.DateField(_("due on"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "ref"], name="manual_send_unique_ref")]
        indexes = [models.Index(fields=["account", "status", "due_on", "id"], name="manual_send_queue")]


class PrivateFileStorage(FileSystemStorage):
    """Files under MEDIA_ROOT that have no public address: the app serves them through a view that checks the
    workspace (an export's download), never from MEDIA_URL."""

    def url(self, name):
        raise ValueError("A private file has no public URL: serve it through a view that checks access.")


private_storage = PrivateFileStorage()


class ExportJob(models.Model):
    """A contact export too big to write inside a request (more than EXPORT_INLINE_MAX_ROWS contacts), written to
    a file by Celery (crm.exports_jobs) and downloaded from its page. It keeps what rebuilds the very same
    contacts for the member who asked: the list's filter as its query string, or the segment and its rule as it
    was then."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (.xlsx)"

    class Source(models.TextChoices):
        LIST = "list", _("Contact list")
        SEGMENT = "segment", _("Segment")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Exporting")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    format = models.CharField(max_length=4, choices=Format.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    query = models.TextField(blank=True, help_text=_("The contact list's filter, as its query string."))
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    segment_name = models.CharField(max_length=100, blank=True)
    rule = models.JSONField(null=True, blank=True, help_text=_("The segment's rule when the export was asked for."))
    language = models.CharField(max_length=10, blank=True)
    file_name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False, help_text=_("Excel's row limit left contacts out."))
    file = models.FileField(storage=private_storage, upload_to="private/exports/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="export_job_ws_created"),
            models.Index(fields=["status", "finished_at"], name="export_job_status_finished"),
        ]

    def __str__(self):
        return self.file_name

    @property
    def percent(self) -> int:
        """How far the export is, 0 to 100 (the list may have grown since it was counted)."""
        if self.status in (self.Status.DONE, self.Status.EXPIRED):
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)
