"""Import contacts or orders from a CSV or Excel (.xlsx) file into a workspace.

    python manage.py crm_import contacts FILE --workspace SLUG [--dry-run] [--map column=field ...] [--encoding gbk]
    python manage.py crm_import orders FILE --workspace SLUG [--account NAME] [--rejects rejects.csv]

The columns are mapped from their headers (Chinese or English); --map overrides one (`--map 电话=phone`) or
ignores it (`--map 电话=`). Bad rows are listed and, with --rejects, written to a CSV; the good rows are committed
in batches. Running the same file again adds nothing twice.
"""

import io
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, no_translations
from tqdm import tqdm

from crm import imports, tasks
from crm.models import ImportJob, WeChatAccount, Workspace

SHOWN_REASONS = 20


class Command(BaseCommand):
    help = "Import contacts or orders from a CSV or Excel (.xlsx) file into a workspace."
    # A data command, as `shell` is: Django's system checks (models, settings, the URLs, which import every view)
    # took 0.3 s of each run before the first row. `manage.py check` runs them, in CI and on deploy.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[ImportJob.Kind.CONTACTS, ImportJob.Kind.ORDERS])
        parser.add_argument("file", help="a .csv (UTF-8 or GBK) or .xlsx file whose first row names the columns")
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument(
            "--map", action="append", default=[], metavar="COLUMN=FIELD",
            help="map a column to a field (an empty FIELD ignores the column); may repeat",
        )
        parser.add_argument("--encoding", default="", help="the CSV's encoding (utf-8, gbk, gb18030); detected if left out")
        parser.add_argument("--account", default="", help="the WeChat account (its name) that new contacts belong to")
        parser.add_argument("--rejects", default="", help="write the rejected rows with their reasons to this CSV file")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    @no_translations  # the command line speaks English; the web UI is Chinese by default
    def handle(self, *args, kind, file, workspace, dry_run, map, encoding, account, rejects, no_progress, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace with the slug “{workspace}”.")
        chosen_account = None
        if account:
            chosen_account = WeChatAccount.objects.filter(workspace=found, name=account).first()
            if chosen_account is None:
                raise CommandError(f"The workspace {found.slug} has no WeChat account named “{account}”.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file {file}.")
        if path.stat().st_size == 0:
            raise CommandError(f"{file} is empty.")
        with path.open("rb") as stream:
            try:
                head = imports.preview(stream, name=path.name, encoding=encoding, limit=0)
                # The encoding found once, for the two passes below: detecting it reads the whole file.
                encoding, header = encoding or head.encoding, head.header
                columns = self._columns(kind, header, map)
                total = 0  # rows, for the progress bar: counting them reads the file once more
                if not no_progress:
                    stream.seek(0)
                    total = imports.count_rows(stream, name=path.name, encoding=encoding)
                stream.seek(0)
                spec = imports.ImportSpec(
                    workspace=found, kind=kind, columns=columns, account=chosen_account, file_name=path.name
                )
                result = self._run(spec, stream, path, encoding, total, dry_run, rejects, no_progress)
            except imports.ImportFileError as error:
                raise CommandError(f"{file}: {error}") from None
        self._report(result, dry_run, rejects)
        if result.created and not dry_run:
            tasks.search_indexes_flush.delay()  # the new contacts' search entries wait in pending lists (crm.bulkload)

    def _columns(self, kind: str, header: list[str], overrides: list[str]) -> dict[str, str]:
        columns = imports.suggest_mapping(kind, header)
        for item in overrides:
            column, sep, field_name = item.partition("=")
            column, field_name = column.strip(), field_name.strip()
            if not sep or not column:
                raise CommandError(f"--map takes COLUMN=FIELD, not “{item}”.")
            if column not in header:
                raise CommandError(f"--map {item}: the file has no column “{column}” (it has: {', '.join(header)}).")
            if field_name:
                # A field given to this column is taken from any column it was suggested for.
                columns = {c: f for c, f in columns.items() if f != field_name or f in imports.REPEATABLE}
                columns[column] = field_name
            else:
                columns.pop(column, None)
        errors = imports.mapping_errors(kind, header, columns)
        if errors:
            fields = ", ".join(imports.FIELDS[kind])
            raise CommandError(
                " ".join(errors) + f"\nColumns: {', '.join(header)}\nFields: {fields}\nUse --map COLUMN=FIELD."
            )
        self.stdout.write("Mapping: " + ", ".join(f"{c} → {f}" for c, f in columns.items()))
        return columns

    def _run(self, spec, stream, path, encoding, total, dry_run, rejects_path, no_progress):
        rejects_file = None
        if rejects_path:
            # UTF-8 with BOM, so that Excel on Windows shows the Chinese.
            rejects_file = io.open(rejects_path, "w", encoding="utf-8-sig", newline="")
        try:
            with tqdm(total=total, unit="row", disable=no_progress or total < 1, file=sys.stderr) as bar:
                return imports.import_rows(
                    spec, stream, name=path.name, encoding=encoding, dry_run=dry_run,
                    rejects=(lambda header: imports.RejectsWriter(rejects_file, header)) if rejects_file else None,
                    progress=lambda done: bar.update(done - bar.n),
                )
        finally:
            if rejects_file:
                rejects_file.close()

    def _report(self, result, dry_run, rejects_path):
        for entry in result.report[:SHOWN_REASONS]:
            column = f" {entry.column}:" if entry.column else ""
            self.stdout.write(f"  line {entry.line} {entry.outcome}:{column} {entry.reason}")
        if len(result.report) > SHOWN_REASONS or result.rejected + result.skipped + result.updated > SHOWN_REASONS:
            self.stdout.write("  …")
        prefix = "Dry run, nothing written: " if dry_run else "Imported: "
        self.stdout.write(self.style.SUCCESS(prefix + result.summary() + "."))
        if result.rejected and rejects_path:
            self.stdout.write(f"Rejected rows and their reasons: {rejects_path}")
