"""The reports' pages: the dashboard (one page, its results also as an htmx fragment), the exports of its tables,
"refresh now" and "save an RFM group as a segment"; the acquisition page (new contacts by source, referral
campaigns, and the effect of broadcasts and moments posts, loaded as a fragment of its own so the page shows at
once); the lifecycle settings (owner only) and the list of customers due to reorder with its follow-up button.

Who sees them: the owner and every teammate who sees the whole book. A staff member limited to some WeChat accounts
gets 403: the reports add up the whole workspace's sales (docs/reports.md, "Who sees the reports"). The list of
customers due to reorder is the exception: it is a to-do list, and a limited staff member sees their accounts' part.
"""

from functools import wraps

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import exports as crm_exports
from crm.views.access import member_required, owner_required
from reports import acquisition, charts, effect, exports, lifecycle, reorder, rfm, rollups, selectors, services, tasks
from reports.forms import (
    LifecycleSettingsForm, acquisition_filter_from_query, report_filter_from_query, workspace_today,
)
from reports.orders import workspace_zone

# A refresh asked for once is not asked for again within this many seconds (a reload, a second tab).
REFRESH_DEBOUNCE_SECONDS = 300
REORDER_PAGE_SIZE = 50
# The weekly chart's sources, the same colours as the rest of the reports (referral green like revenue).
BUCKET_COLOURS = {"referral": "#2f7d32", "paid": "#4a78b5", "import": "#c98a2b", "organic": "#9e9e9e"}


def reports_member_required(view):
    @member_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.member.sees_all_accounts:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _queue_refresh(workspace) -> bool:
    if not cache.add(f"reports:refresh-queued:{workspace.pk}", True, REFRESH_DEBOUNCE_SECONDS):
        return False
    transaction.on_commit(lambda: tasks.rollups_refresh.delay(workspace_id=workspace.pk))
    return True


def _figures(request):
    """Everything the dashboard and the exports show, for the request's filter."""
    workspace = request.workspace
    form, filters = report_filter_from_query(workspace=workspace, data=request.GET)
    state = selectors.rollup_state(workspace=workspace)
    if state is None:
        _queue_refresh(workspace)
    groups, grid = rfm.rfm_groups(workspace=workspace, cuts=state.rfm_cuts) if state else ([], {})
    return {
        "form": form,
        "filters": filters,
        "report": selectors.repeat_purchase(workspace=workspace, filters=filters),
        "months": selectors.orders_by_month(workspace=workspace, filters=filters),
        "cohorts": selectors.cohort_table(
            workspace=workspace, since=filters.since, until=filters.until, today=workspace_today(workspace)
        ),
        "groups": groups,
        "grid": grid,
        "state": state,
    }


@reports_member_required
def dashboard(request):
    figures = _figures(request)
    report = figures["report"]
    state = figures["state"]
    context = {
        **figures,
        "query": request.GET.urlencode(),
        "stale": state is not None and rollups.rollups_are_stale(workspace=request.workspace),
        "revenue_chart": charts.line_chart([(f"{p.month:%Y-%m}", p.revenue) for p in figures["months"]]),
        "distribution_chart": charts.bar_chart(exports.distribution_bars(report)),
        "cohort_months": range(1, selectors.COHORT_MONTHS_SHOWN + 1),
        "cohort_rows": [
            (row, [(share, charts.heat_alpha(share)) for share in row.retention]) for row in figures["cohorts"]
        ],
        "grid_rows": _grid_rows(figures["grid"]),
    }
    if request.htmx:
        return render(request, "reports/_results.html", context)
    context["digest"] = lifecycle.lost_digest(workspace=request.workspace)
    return render(request, "reports/dashboard.html", context)


def _grid_rows(grid: dict) -> list:
    """The recency x frequency grid, recency 5 (most recent) on top, with each cell's group."""
    return [
        (r, [(grid.get((r, f), 0), rfm.GROUPS[rfm.GROUP_OF_CELL[(r, f)]][0]) for f in range(1, rfm.QUINTILES + 1)])
        for r in range(rfm.QUINTILES, 0, -1)
    ]


def _table(table: str, figures: dict) -> tuple[list, list]:
    if table == "summary":
        return exports.summary_table(figures["report"])
    if table == "distribution":
        return exports.distribution_table(figures["report"])
    if table == "months":
        return exports.months_table(figures["months"])
    if table == "cohorts":
        return exports.cohorts_table(figures["cohorts"])
    return exports.rfm_table(figures["groups"])


def _acquisition_table(table: str, request) -> tuple[list, list]:
    """Only what the table needs: the weekly counts need not wait for the effect of every send."""
    workspace = request.workspace
    _form, filters = acquisition_filter_from_query(workspace=workspace, data=request.GET)
    if table == "weeks":
        return exports.weeks_table(acquisition.new_contacts_by_week(workspace=workspace, filters=filters))
    if table == "referral-campaigns":
        return exports.referral_campaigns_table(acquisition.referral_campaigns(workspace=workspace, filters=filters))
    return exports.effect_table(effect.campaign_effect(workspace=workspace, filters=filters),
                                time_zone=workspace_zone(workspace))


@reports_member_required
def export(request, table: str, extension: str):
    if extension not in ("csv", "xlsx"):
        raise Http404
    if table in exports.TABLES:
        header, rows = _table(table, _figures(request))
    elif table in exports.ACQUISITION_TABLES:
        header, rows = _acquisition_table(table, request)
    else:
        raise Http404
    time_zone = request.workspace.time_zone
    filename = crm_exports.export_filename(stem=f"report-{table}", extension=extension, time_zone=time_zone)
    if extension == "csv":
        response = StreamingHttpResponse(crm_exports.csv_chunks(rows, header=header),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    else:
        output, _truncated = crm_exports.xlsx_file(rows, header=header, sheet_title=_("Report"))
        response = FileResponse(output, as_attachment=True, filename=filename,
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Cache-Control"] = "private, no-store"
    return response


@reports_member_required
def acquisition_report(request):
    workspace = request.workspace
    form, filters = acquisition_filter_from_query(workspace=workspace, data=request.GET)
    new_contacts = acquisition.new_contacts_by_week(workspace=workspace, filters=filters)
    campaigns = acquisition.referral_campaigns(workspace=workspace, filters=filters)
    labels = exports.bucket_labels()
    styles = {bucket: (labels[bucket], BUCKET_COLOURS[bucket]) for bucket in acquisition.BUCKETS}
    weeks_header, weeks_rows = exports.weeks_table(new_contacts)
    context = {
        "form": form,
        "filters": filters,
        "query": request.GET.urlencode(),
        "new_contacts": new_contacts,
        "referred": new_contacts.total(acquisition.REFERRAL),
        "referral_share": weeks_rows[-1][-1],
        # The page's table is the export's: the same cells, the last row (the total) as the footer.
        "weeks_header": weeks_header, "weeks_rows": weeks_rows[:-1], "weeks_total": weeks_rows[-1],
        "buckets": [(bucket, *styles[bucket]) for bucket in acquisition.BUCKETS],
        "weeks_chart": charts.stacked_bar_chart([
            (f"{row.week:%m-%d}", [(bucket, row.counts.get(bucket, 0)) for bucket in acquisition.BUCKETS])
            for row in new_contacts.weeks
        ], styles=styles),
        "campaigns": campaigns,
        "campaigns_total": acquisition.campaigns_total(campaigns),
        "paid_cost": acquisition.chosen_cost(workspace=workspace, cost_id=filters.cost_id),
        "referrals_installed": acquisition.referrals_installed(),
    }
    if request.htmx:
        return render(request, "reports/_acquisition_results.html", context)
    return render(request, "reports/acquisition.html", context)


@reports_member_required
def campaign_effect(request):
    """The effect table alone: the acquisition page loads it after showing the rest (each send is a query)."""
    workspace = request.workspace
    _form, filters = acquisition_filter_from_query(workspace=workspace, data=request.GET)
    page = request.GET.get("page", "")
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/_effect.html", {
        "filters": filters,
        "query": query.urlencode(),
        "effect": effect.campaign_effect(workspace=workspace, filters=filters,
                                         page=int(page) if page.isdigit() else 1),
        "max_sends": effect.MAX_SENDS,
    })


@require_POST
@reports_member_required
def refresh(request):
    cache.delete(f"reports:refresh-queued:{request.workspace.pk}")
    _queue_refresh(request.workspace)
    messages.success(request, _("The reports are being refreshed; reload the page in a moment."))
    return redirect("reports:dashboard")


@require_POST
@reports_member_required
def rfm_save_segment(request, group: str):
    if group not in rfm.GROUPS:
        raise Http404
    try:
        segment, tag = services.rfm_group_save_as_segment(
            workspace=request.workspace, group=group, actor=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("reports:dashboard")
    workspace_id, actor_id = request.workspace.pk, request.user.pk
    transaction.on_commit(lambda: tasks.rfm_group_tag.delay(
        workspace_id=workspace_id, tag_id=tag.pk, group=group, actor_id=actor_id
    ))
    messages.success(request, _("Segment “%(name)s” saved: its customers are being tagged “%(tag)s”.")
                     % {"name": segment.name, "tag": tag.name})
    return redirect("crm:segment_detail", pk=segment.pk)


@owner_required
def lifecycle_settings(request):
    current = lifecycle.lifecycle_settings(workspace=request.workspace)
    form = LifecycleSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        services.lifecycle_settings_save(workspace=request.workspace, values={
            name: form.cleaned_data[name] for name in LifecycleSettingsForm.Meta.fields
        })
        workspace_id = request.workspace.pk
        transaction.on_commit(lambda: tasks.stages_refresh.delay(workspace_id=workspace_id))
        messages.success(request, _("Lifecycle settings saved: the stages are being recomputed."))
        return redirect("reports:lifecycle_settings")
    return render(request, "reports/lifecycle_settings.html", {"form": form})


@member_required
def reorder_list(request):
    workspace = request.workspace
    today = timezone.localdate(timezone.now(), workspace_zone(workspace))
    page = Paginator(reorder.due_to_reorder(member=request.member), REORDER_PAGE_SIZE).get_page(request.GET.get("page"))
    rollups = list(page.object_list)
    rows = reorder.due_rows(
        rollups=rollups,
        median_gap=reorder.workspace_median_gap(workspace=workspace, today=today),
        nudged_ids=reorder.nudged_today(workspace=workspace, contact_ids=[r.contact_id for r in rollups], today=today),
    )
    return render(request, "reports/reorder.html", {
        "page": page, "rows": rows, "state": selectors.rollup_state(workspace=workspace),
    })


@require_POST
@member_required
def reorder_follow_up(request):
    # A row's own button sends "only" (its contact alone, whatever else is ticked); the button below the list sends
    # the ticked rows.
    values = [request.POST["only"]] if request.POST.get("only") else request.POST.getlist("contact")
    contact_ids = [int(value) for value in values if value.isdigit()]
    queued = reorder.reorder_follow_up(member=request.member, contact_ids=contact_ids)
    messages.success(request, _("Follow-ups queued: %(count)d.") % {"count": queued})
    page = request.POST.get("page", "")
    return redirect(f"{reverse('reports:reorder')}?page={page}" if page.isdigit() else reverse("reports:reorder"))
