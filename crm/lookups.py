"""Lookups the big batches need (registered in CrmConfig.ready): a case-insensitive "contains" that PostgreSQL's
trigram indexes serve, and "one of these thousands of values" as one array parameter."""

from django.db.models import CharField, Field, ForeignObject, Lookup, TextField
from django.db.models.lookups import IContains, In


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


class AnyOf(Lookup):
    """`column = ANY(%s)` on PostgreSQL, the values one array parameter; `IN (...)` elsewhere.

    The same rows as `__in`, but a batch's IN list of thousands of values costs more on PostgreSQL to build and send
    (a placeholder and a parameter each, the query parsed by the driver) than to run. SQLite takes 32,766
    parameters a query since 3.32, well above a batch.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_postgresql(self, compiler, connection):
        column, params = self.process_lhs(compiler, connection)
        return f"{column} = ANY(%s)", (*params, list(self.rhs))

    def as_sql(self, compiler, connection):
        return In(self.lhs, list(self.rhs)).as_sql(compiler, connection)


def register() -> None:
    CharField.register_lookup(TrigramIContains)
    TextField.register_lookup(TrigramIContains)
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # related fields look up their own registry
