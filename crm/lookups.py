"""A case-insensitive "contains" that PostgreSQL's trigram indexes serve (registered in CrmConfig.ready)."""

from django.db.models import CharField, TextField
from django.db.models.lookups import IContains


class TrigramIContains(IContains):
    """`col::text ILIKE '%text%'` on PostgreSQL; Django's icontains elsewhere.

    Django's icontains compares UPPER(col) with UPPER(text), which only an index on UPPER(col) serves. pg_trgm folds
    case itself, so the trigram index on the plain column (migration 0002) serves ILIKE directly, and one index per
    column is enough (migration 0007 dropped the UPPER ones).
    """

    lookup_name = "trigram_icontains"

    def as_postgresql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs_sql})::text ILIKE {rhs_sql}", (*lhs_params, *rhs_params)

    def as_sql(self, compiler, connection):
        return IContains(self.lhs, self.rhs).as_sql(compiler, connection)


def register() -> None:
    CharField.register_lookup(TrigramIContains)
    TextField.register_lookup(TrigramIContains)
