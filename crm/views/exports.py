"""The contact list, with its current filter, or a saved segment, as a CSV or Excel download."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import content_disposition_header

from crm import exports, segments, selectors
from crm.models import Segment
from crm.forms import contact_filter_from_query
from crm.views.access import member_required


def _filtered_contacts(request):
    # The list's own filter, form and selector: the export holds exactly the contacts the list shows this member.
    _form, filters = contact_filter_from_query(member=request.member, data=request.GET)
    return selectors.contact_list(member=request.member, filters=filters)


def csv_response(request, contacts, *, stem: str = "contacts") -> StreamingHttpResponse:
    """A streamed CSV of any contacts queryset already scoped to the member (reusable for a segment export)."""
    time_zone = request.workspace.time_zone
    rows = exports.export_rows(contacts, time_zone=time_zone)
    response = StreamingHttpResponse(exports.csv_chunks(rows), content_type="text/csv; charset=utf-8")
    filename = exports.export_filename(stem=stem, extension="csv", time_zone=time_zone)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def xlsx_response(request, contacts, *, stem: str = "contacts") -> FileResponse:
    """An .xlsx of the contacts, at most Excel's 1,048,575 rows; a longer list says so in the file (a "Note"
    sheet) and in the X-Export-Truncated header."""
    time_zone = request.workspace.time_zone
    output, truncated = exports.xlsx_file(exports.export_rows(contacts, time_zone=time_zone))
    filename = exports.export_filename(stem=stem, extension="xlsx", time_zone=time_zone)
    response = FileResponse(
        output,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Cache-Control"] = "private, no-store"
    if truncated:
        response["X-Export-Truncated"] = str(exports.XLSX_MAX_ROWS)  # how many rows the file holds
    return response


@member_required
def contact_export_csv(request):
    return csv_response(request, _filtered_contacts(request))


@member_required
def contact_export_xlsx(request):
    return xlsx_response(request, _filtered_contacts(request))


def _segment_contacts(request, pk):
    """The segment's contacts as the member sees them, or None when its rule no longer validates."""
    segment = get_object_or_404(Segment, workspace=request.workspace, pk=pk)
    try:
        return segment, segments.segment_contacts_for_member(member=request.member, rule=segment.rule)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return segment, None


@member_required
def segment_export_csv(request, pk):
    segment, contacts = _segment_contacts(request, pk)
    if contacts is None:
        return redirect("crm:segment_detail", pk=segment.pk)
    return csv_response(request, contacts, stem=exports.segment_stem(segment))


@member_required
def segment_export_xlsx(request, pk):
    segment, contacts = _segment_contacts(request, pk)
    if contacts is None:
        return redirect("crm:segment_detail", pk=segment.pk)
    return xlsx_response(request, contacts, stem=exports.segment_stem(segment))
