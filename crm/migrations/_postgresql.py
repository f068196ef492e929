"""Migration helpers (the leading underscore keeps Django's migration loader away from this module)."""

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that does nothing on other databases (SQLite for `make run` and the default test run)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
