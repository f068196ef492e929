"""Reading an import file: CSV or Excel (.xlsx) opened as a table whose rows are streamed, never loaded whole.

CSV through csv.reader over a text wrapper, its encoding detected (UTF-8 with or without BOM, else GB18030) or
chosen, its delimiter (comma, tab, semicolon) sniffed; .xlsx through openpyxl in read-only mode. Rows come out as
lists of strings with the row number a spreadsheet shows (the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

PREVIEW_ROWS = 10
CSV_EXTENSIONS = {".csv", ".txt", ".tsv"}
XLSX_EXTENSIONS = {".xlsx", ".xlsm"}
SNIFF_BYTES = 64 * 1024

ENCODING_CHOICES = [
    ("", gettext_lazy("Detect")),
    ("utf-8", "UTF-8"),
    ("gb18030", "GBK / GB18030"),
]


class ImportFileError(Exception):
    """The file as a whole cannot be read or imported; the message says why, for the person who uploaded it."""


def file_format(name: str, head: bytes) -> str:
    """"csv" or "xlsx" from the file's name and first bytes; ImportFileError for anything else."""
    extension = Path(name or "").suffix.lower()
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("This is an old Excel .xls file: save it as .xlsx or CSV, then upload that."))
    if extension in XLSX_EXTENSIONS:
        if not head.startswith(b"PK\x03\x04"):
            raise ImportFileError(_("“%(name)s” is not a valid Excel .xlsx file.") % {"name": name})
        return "xlsx"
    if extension in CSV_EXTENSIONS:
        if b"\x00" in head and not head.startswith(_UTF16_BOMS):
            raise ImportFileError(
                _("“%(name)s” does not look like a text CSV file. In Excel choose “Save as: CSV UTF-8”.")
                % {"name": name}
            )
        return "csv"
    raise ImportFileError(
        _("Upload a CSV or Excel (.xlsx) file: “%(name)s” is neither.") % {"name": name or "?"}
    )


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def normalize_encoding(encoding: str) -> str:
    """The codec to read with: '' (detect), utf-8-sig for any UTF-8 (a BOM is dropped), gb18030 for GBK and GB2312
    (GB18030 is a superset of both, so it reads them identically and more), or another codec Python knows."""
    encoding = (encoding or "").strip().lower()
    if not encoding:
        return ""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ImportFileError(_("Unknown encoding “%(encoding)s”.") % {"encoding": encoding}) from None
    if name in {"utf-8", "utf-8-sig"}:
        return "utf-8-sig"
    if name in {"gbk", "gb2312", "gb18030"}:
        return "gb18030"
    return name


def detect_encoding(stream) -> str:
    """utf-8-sig when the whole file decodes strictly as UTF-8 (with or without a BOM), else gb18030.

    Chinese shop and Excel exports are either UTF-8 or GBK; GB18030 is a superset of GBK (and of GB2312), so one
    codec reads all of those. UTF-8 is tried first and strictly over the whole file, a megabyte at a time: GBK text
    is almost never valid UTF-8, while UTF-8 text often decodes as (wrong) GB18030.
    """
    stream.seek(0)
    if stream.read(2) in _UTF16_BOMS:  # Excel's "Unicode text" export
        stream.seek(0)
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    stream.seek(0)
    try:
        while chunk := stream.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        stream.seek(0)


def sniff_delimiter(sample: str) -> str:
    """Comma, tab or semicolon, whichever csv.Sniffer finds in the first lines, checked against the header line."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample cut the last line short
    lines = lines[:50]
    if not lines:
        return ","
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ""
    counts = {candidate: lines[0].count(candidate) for candidate in ",\t;"}
    if delimiter and counts.get(delimiter):
        return delimiter
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _unique_header(cells: list[str]) -> list[str]:
    """Header names stripped, blanks named by position (#3), repeats numbered, so a mapping can key on them."""
    header, seen = [], set()
    for position, cell in enumerate(cells, start=1):
        name = (cell or "").strip() or f"#{position}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name} ({n})", n + 1
        seen.add(candidate)
        header.append(candidate)
    return header


def _excel_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Excel keeps every number as a float: a phone 13812345678 or an order number must not become 1.38e10.
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Table:
    """An open file: its header, its data rows (row number as a spreadsheet shows it, cells), how it was read."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    format: str
    encoding: str = ""
    delimiter: str = ""


@contextmanager
def open_table(stream, *, name: str, encoding: str = "") -> Iterator[Table]:
    """Open a binary, seekable stream as a table. Rows are produced one at a time; empty rows are left out."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    kind = file_format(name, head)
    if kind == "xlsx":
        with _open_xlsx(stream) as table:
            yield table
    else:
        with _open_csv(stream, encoding=encoding) as table:
            yield table


@contextmanager
def _open_csv(stream, *, encoding: str) -> Iterator[Table]:
    codec = normalize_encoding(encoding) or detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=codec, errors="strict", newline="")
    try:
        try:
            sample = text.read(SNIFF_BYTES)
            text.seek(0)
        except UnicodeDecodeError:
            raise ImportFileError(_("The file cannot be read as %(encoding)s: choose its encoding.") % {"encoding": codec}) from None
        if sample.startswith("\ufeff"):  # a BOM in a file read with a chosen non-UTF-8 codec
            sample = sample[1:]
        delimiter = sniff_delimiter(sample)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            first = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as error:
            raise ImportFileError(_("The header row cannot be read: %(error)s") % {"error": error}) from None
        if first is None or not any(cell.strip() for cell in first):
            raise ImportFileError(_("The file is empty: its first row should name the columns."))
        first[0] = first[0].lstrip("\ufeff")
        header = _unique_header(first)

        def rows():
            number = 1
            try:
                for cells in reader:
                    number += 1
                    if "".join(cells).strip():  # not an empty row (one test for all cells: this runs per row)
                        yield number, cells
            except UnicodeDecodeError:
                raise ImportFileError(
                    _("Row %(line)d cannot be read as %(encoding)s: choose the file's encoding.")
                    % {"line": number + 1, "encoding": codec}
                ) from None
            except csv.Error as error:
                raise ImportFileError(
                    _("Row %(line)d is not valid CSV: %(error)s") % {"line": number + 1, "error": error}
                ) from None

        yield Table(header=header, rows=rows(), format="csv", encoding=codec, delimiter=delimiter)
    finally:
        text.detach()


@contextmanager
def _open_xlsx(stream) -> Iterator[Table]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # zipfile.BadZipFile, KeyError, InvalidFileException...: none of them a readable workbook
        raise ImportFileError(_("This Excel file cannot be opened: save it again as .xlsx or CSV.")) from None
    try:
        if not workbook.worksheets:
            raise ImportFileError(_("The Excel file has no sheet."))
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None or not any(_excel_text(cell) for cell in first):
            raise ImportFileError(_("The file is empty: its first row should name the columns."))
        header = _unique_header([_excel_text(cell) for cell in first])

        def rows():
            for number, row in enumerate(values, start=2):
                cells = [_excel_text(cell) for cell in row]
                if any(cells):
                    yield number, cells

        yield Table(header=header, rows=rows(), format="xlsx")
    finally:
        workbook.close()


def count_rows(stream, *, name: str, encoding: str = "") -> int:
    """How many data rows the file has: one streaming pass, for the progress bar."""
    with open_table(stream, name=name, encoding=encoding) as table:
        return sum(1 for _row in table.rows)


@dataclass
class Preview:
    header: list[str]
    rows: list[list[str]]
    format: str
    encoding: str
    delimiter: str


def preview(stream, *, name: str, encoding: str = "", limit: int = PREVIEW_ROWS) -> Preview:
    with open_table(stream, name=name, encoding=encoding) as table:
        rows = []
        for _number, cells in table.rows:
            rows.append((cells + [""] * len(table.header))[: len(table.header)])
            if len(rows) >= limit:
                break
        return Preview(table.header, rows, table.format, table.encoding, table.delimiter)
