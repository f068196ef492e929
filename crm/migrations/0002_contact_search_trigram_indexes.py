"""Trigram indexes for the contact search, on PostgreSQL only (SQLite skips this migration's SQL).

The contact list's search (selectors._search) compares text that has no upper and lower case (Chinese, digits:
most of what a seller types) as it is, `col::text LIKE '%姐%'`, and other text the Django way,
`UPPER(col::text) LIKE UPPER('%Amy%')`, on the nickname, remark name, WeChat ID and description, plus
`phone::text LIKE '%138%'` for digits. pg_trgm's GIN indexes on exactly those expressions let PostgreSQL answer
a search with a BitmapOr of index scans instead of reading every contact.

pg_trgm needs three characters to extract a trigram, so a one- or two-character search (a surname, 张姐) still
scans (docs/performance.md). In this database's C.UTF-8 locale Chinese characters count as word characters, so
Chinese text of three or more characters is indexed like any other.
"""

from django.db import migrations

from crm.migrations._postgresql import PostgreSQLOnly

SEARCHED = {
    "contact_trgm_nickname": '(("nickname")::text)',
    "contact_trgm_remark": '(("remark_name")::text)',
    "contact_trgm_wechat_id": '(("wechat_id")::text)',
    "contact_trgm_description": '("description")',
    "contact_trgm_phone": '(("phone")::text)',
    "contact_trgm_nickname_upper": 'UPPER(("nickname")::text)',
    "contact_trgm_remark_upper": 'UPPER(("remark_name")::text)',
    "contact_trgm_wechat_id_upper": 'UPPER(("wechat_id")::text)',
    "contact_trgm_description_upper": 'UPPER("description")',
}


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [
        # pg_trgm is a trusted extension: the database's owner may create it without being a superuser.
        PostgreSQLOnly("CREATE EXTENSION IF NOT EXISTS pg_trgm", reverse_sql=migrations.RunSQL.noop),
        *[
            PostgreSQLOnly(
                f'CREATE INDEX IF NOT EXISTS {name} ON "crm_contact" USING gin ({expression} gin_trgm_ops)',
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
            for name, expression in SEARCHED.items()
        ],
    ]
