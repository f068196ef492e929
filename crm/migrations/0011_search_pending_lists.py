"""The contact search's trigram indexes take new entries into a larger pending list, and the timeline's copy of the
workspace keeps no foreign key of its own.

A GIN index first appends new entries to its pending list and merges the list into the index when it outgrows
gin_pending_list_limit (4 MB by default), in the statement that made it outgrow it. An import of 100,000 contacts
filled the five search indexes' lists dozens of times over, and merging them cost as much as writing the contacts
with every other index (7 s of 21). Its entries take 8 to 30 MB per index, so with a 64 MB list the import only
appends; crm.bulkload.search_indexes_flush merges the lists in a Celery task after the import commits (autovacuum
would too, later). Until then a search reads the pending entries as well: nothing is missing from its results, it
is only a little slower. The limit is also what a statement that fills a list pays to merge it: 64 MB keeps that to
seconds, where a list of several imports' entries (a worker down for a day) would take a minute.

TimelineEvent.workspace is the contact's workspace, written beside it to scope the events: its foreign-key check
cost one trigger call per event (an import writes 100,000) and its own index served no query.
"""

import django.db.models.deletion
from django.db import migrations, models

from crm.migrations._postgresql import PostgreSQLOnly

SEARCH_INDEXES = (
    "contact_trgm_nickname", "contact_trgm_remark", "contact_trgm_wechat_id", "contact_trgm_description",
    "contact_trgm_phone",
)
PENDING_LIST_KB = 64 * 1024


class Migration(migrations.Migration):
    dependencies = [("crm", "0010_stage_changed_kind")]

    operations = [
        *[
            PostgreSQLOnly(
                f"ALTER INDEX IF EXISTS {name} SET (gin_pending_list_limit = {PENDING_LIST_KB})",
                reverse_sql=f"ALTER INDEX IF EXISTS {name} RESET (gin_pending_list_limit)",
            )
            for name in SEARCH_INDEXES
        ],
        migrations.AlterField(
            model_name="timelineevent",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="timeline_events", to="crm.workspace",
            ),
        ),
    ]
