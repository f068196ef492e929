"""The live contacts of a workspace in id order, for segment counts, on PostgreSQL only (SQLite skips this SQL).

Every segment filters a workspace's contacts that are not merged duplicates (merged_into IS NULL). A segment count
over a big workspace reads each condition's contacts in id order, straight from the indexes that exist already
(contact_tag_by_tag: tag, contact; order_contact_placed: contact, placed_at), and merge-joins those streams with
the workspace's live contacts, also in id order (crm.segments.queries, docs/performance.md "Segments"). Without
this index that stream is the contact table itself (194 MB for a million contacts: a sequential scan, or a heap
probe per candidate); with it, an index-only scan of about 30 MB, already in id order.

SQLite's planner probes each condition per contact instead and does not use it, so it is not created there.
"""

from django.db import migrations

from crm.migrations._postgresql import PostgreSQLOnly


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_export_job")]

    operations = [
        PostgreSQLOnly(
            'CREATE INDEX IF NOT EXISTS contact_ws_live ON "crm_contact" ("workspace_id", "id") '
            'WHERE "merged_into_id" IS NULL',
            reverse_sql="DROP INDEX IF EXISTS contact_ws_live",
        ),
    ]
