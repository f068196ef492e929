"""Import of contacts and orders from CSV or Excel (.xlsx): reading, column mapping, validation and writing.

The same code serves the web UI (crm.views.imports, through the Celery task tasks.import_job_run) and the command
line (`manage.py crm_import`). The pieces:

- Reading (open_table): the file is streamed, never loaded whole. CSV through csv.reader over a text wrapper, its
  encoding detected (UTF-8 with or without BOM, else GB18030) or chosen, its delimiter (comma, tab, semicolon)
  sniffed; .xlsx through openpyxl in read-only mode. Rows come out as lists of strings with the row number a
  spreadsheet shows (the header is row 1).
- Mapping: each file column maps to a field or is ignored; suggest_mapping() guesses it from Chinese or English
  headers, mapping_errors() says what is wrong with one.
- Importing (import_rows): rows are parsed and checked one by one (a bad row is rejected with its line, column and
  reason, the good ones go on), then matched and written in batches of BATCH_SIZE rows, each batch in its own
  transaction. A dry run does the same matching and counting and writes nothing.

Why batches and not one transaction: a file of 500,000 rows in one transaction would hold SQLite's write lock (and
a long PostgreSQL transaction) for minutes and lose everything on a crash at row 499,999. Each batch commits with
the job's progress (processed_rows and the counters) in the same transaction, so after a crash the workspace holds
exactly the committed batches and the job says how far they reached; resuming starts after them. Re-running a whole
file is harmless as well: contacts are matched (external ID, WeChat ID, phone) and updated rather than added again,
and an order's import_key is unique per workspace.

The package's modules, in that order: reading, mapping, parsing (cells, rejected rows), tables (how rows are
written), writing (the base importer and the contacts'), orders (the orders'), importing (import_rows) and jobs
(ImportJob services). This module re-exports what the rest of the project uses, and holds the two limits the
modules read from here when they use them, so that changing crm.imports.MAX_UPLOAD_BYTES or crm.imports.BATCH_SIZE
takes effect.
"""

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Rows per batch (and per transaction). Each batch costs a fixed number of queries and COPY streams, and each tag it
# adds one TAG_ADDED event whose listeners query the database, so bigger batches are faster: 5,000 rows import in
# about a second or two on PostgreSQL, about as long as SQLite's write lock should be held.
BATCH_SIZE = 5000

from crm.imports.reading import ENCODING_CHOICES, ImportFileError, count_rows, file_format, preview  # noqa: E402
from crm.imports.mapping import (  # noqa: E402
    CONTACT_FIELDS,
    FIELDS,
    ORDER_FIELDS,
    REPEATABLE,
    mapping_errors,
    suggest_mapping,
)
from crm.imports.parsing import RejectsWriter, _Bad, parse_amount, parse_channel  # noqa: E402
from crm.imports.writing import _ContactImporter  # noqa: E402
from crm.imports.orders import import_key  # noqa: E402
from crm.imports.importing import ImportSpec, import_rows  # noqa: E402
from crm.imports.jobs import (  # noqa: E402
    DRY_RUN_MAX_ROWS,
    import_job_check,
    import_job_create,
    import_job_is_stale,
    import_job_preview,
    import_job_queue,
    import_job_requeue,
    import_job_resume,
    import_job_run,
    import_job_set_mapping,
    import_jobs_of,
    job_account_id,
    job_columns,
    rejects_preview,
)

__all__ = [
    "BATCH_SIZE", "MAX_UPLOAD_BYTES",
    "ENCODING_CHOICES", "ImportFileError", "count_rows", "file_format", "preview",
    "CONTACT_FIELDS", "FIELDS", "ORDER_FIELDS", "REPEATABLE", "mapping_errors", "suggest_mapping",
    "RejectsWriter", "_Bad", "parse_amount", "parse_channel",
    "_ContactImporter", "import_key",
    "ImportSpec", "import_rows",
    "DRY_RUN_MAX_ROWS", "import_job_check", "import_job_create", "import_job_is_stale", "import_job_preview",
    "import_job_queue", "import_job_requeue", "import_job_resume", "import_job_run", "import_job_set_mapping",
    "import_jobs_of", "job_account_id", "job_columns", "rejects_preview",
]
