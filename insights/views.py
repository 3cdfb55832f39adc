"""The organisers' gender-balance pages: one event, a cluster's dashboard, CSV and reports.

Figures only, all from `insights.balance` (which counts through `members.privacy`): each is
a multiple of k or "fewer than k", and no page names a person next to a gender.
Organisers of the cluster (or of the event's clusters) and staff see them; everyone else
gets 404. Every view and export of figures is logged with its filter.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from events import selectors
from events.models import Event, StageRole
from events.organiser_views import _csv_safe
from insights import balance, brokerage, charts, mentoring
from insights.forms import BalanceFilterForm
from matchmaking.organiser_views import ManagedProgrammeView
from members import privacy
from members.models import Cluster
from members.privacy import GenderCounts
from members.selectors import cluster_get_managed, clusters_managed_by
from members.views import paginate, querystring_without_page

Gender = privacy.Gender
WOMEN = Gender.WOMAN
# Plural labels only: a page of figures speaks of groups, never of one person.
CATEGORY_LABELS = {
    Gender.WOMAN: gettext_lazy("Women"),
    Gender.MAN: gettext_lazy("Men"),
    Gender.NON_BINARY: gettext_lazy("Non-binary"),
    Gender.SELF_DESCRIBED: gettext_lazy("Self-described"),
    Gender.UNDISCLOSED: gettext_lazy("Undisclosed"),
}
STAGE_LABELS = {
    StageRole.Role.SPEAKER: gettext_lazy("Speakers"),
    StageRole.Role.PANELLIST: gettext_lazy("Panellists"),
    StageRole.Role.MODERATOR: gettext_lazy("Moderators"),
    "on_stage": gettext_lazy("All on stage"),
}
EVENTS_PER_PAGE = 25


def _series() -> list[tuple[str, str]]:
    return [(c, str(CATEGORY_LABELS[c])) for c in privacy.STATISTICS_CATEGORIES]


def shown(value: int | None, k: int) -> str:
    return f"< {k}" if value is None else str(value)


def share_text(counts: GenderCounts) -> str:
    share = counts.share(WOMEN)
    return _("too few to show") if share is None else f"{share * 100:.0f} %"


@dataclass(frozen=True)
class FigureRow:
    """One row of a figures table: a label, the cells per category, total, share of women."""

    label: str
    cells: list[str]
    total: str
    share: str
    counts: GenderCounts


def figure_row(label: str, counts: GenderCounts) -> FigureRow:
    k = counts.k
    return FigureRow(
        label=str(label),
        cells=[shown(counts.cells.get(c), k) for c in privacy.STATISTICS_CATEGORIES],
        total=shown(counts.total, k),
        share=share_text(counts),
        counts=counts,
    )


def bars(rows: list[FigureRow], *, title: str) -> str:
    k = rows[0].counts.k if rows else privacy.min_group_size()
    return charts.stacked_bars(
        [(row.label, row.counts.cells) for row in rows], series=_series(), title=title, k=k
    )


def target_badge(cluster: Cluster, target: balance.TargetPosition) -> str:
    if target.position == "below":
        return _("Below target (%(n)s %%)") % {"n": cluster.women_target_percent}
    if target.position == "balanced":
        return _("Balanced (%(a)s–%(b)s %%)") % {
            "a": cluster.balanced_from_percent,
            "b": cluster.balanced_to_percent,
        }
    if target.position == "above":
        return _("Above the balanced zone (%(b)s %%)") % {"b": cluster.balanced_to_percent}
    return str(target.label)


def _common(k: int) -> dict:
    return {
        "categories": [CATEGORY_LABELS[c] for c in privacy.STATISTICS_CATEGORIES],
        "k": k,
        "generated_at": timezone.now(),
        **release_terms(),
    }


def release_terms() -> dict:
    """What the privacy notes state, from the settings the releases are drawn with."""
    return {
        "best_guess": f"{privacy.release_cost().best_guess * 100:.1f}",
        "release_after_hours": settings.PRIVACY_RELEASE_AFTER_HOURS,
    }


# --- one event -------------------------------------------------------------------------


class EventBalanceView(LoginRequiredMixin, View):
    """The balance of one event, for the organisers of one of its clusters."""

    template_name = "insights/balance/event.html"
    view_name = "balance_event"

    def get(self, request, slug: str):
        event = selectors.event_get_managed(user=request.user, slug=slug)
        cluster = clusters_managed_by(user=request.user).filter(events=event).order_by("pk").first()
        privacy.statistics_access_log(
            user=request.user, view=self.view_name, cluster=cluster, filters={"event": event.slug}
        )
        return render(request, self.template_name, event_context(event))


def event_context(event: Event) -> dict:
    figures = balance.balance_for_event(event=event)
    k = figures.funnel["registered"].k
    funnel = [figure_row(balance.FUNNEL_LABELS[key], figures.funnel[key]) for key in balance.FUNNEL]
    stage = [
        figure_row(STAGE_LABELS[key], figures.stage[key])
        for key in (*StageRole.Role.values, "on_stage")
    ]
    sessions = [
        (
            session,
            [figure_row(balance.FUNNEL_LABELS[key], measures[key]) for key in balance.FUNNEL],
        )
        for session, measures in figures.sessions
    ]
    return {
        **_common(k),
        "event": event,
        "funnel": funnel,
        "funnel_chart": bars(funnel, title=_("Registration funnel by gender category")),
        "share_of_women": share_text(figures.funnel["participants"]),
        "stage": stage,
        "stage_chart": bars(stage, title=_("Who is on stage, by gender category")),
        "flags": figures.flags,
        "released": figures.released,
        "release_due": figures.release_due,
        "targets": [
            (cluster, target, target_badge(cluster, target)) for cluster, target in figures.targets
        ],
        "sessions": sessions,
    }


class EventBalanceReportView(EventBalanceView):
    template_name = "insights/balance/event_report.html"
    view_name = "balance_event_report"


class BrokerageBalanceView(LoginRequiredMixin, View):
    """The funnel of a brokerage day by gender category (`insights.brokerage`), for the
    organisers of the event's clusters, as the event's own balance page."""

    template_name = "insights/balance/brokerage.html"

    def get(self, request, slug: str):
        event = selectors.event_get_managed(user=request.user, slug=slug)
        if event.kind != Event.Kind.BROKERAGE:
            raise Http404(_("This event is not a brokerage event."))
        cluster = clusters_managed_by(user=request.user).filter(events=event).order_by("pk").first()
        privacy.statistics_access_log(
            user=request.user, view="balance_brokerage", cluster=cluster,
            filters={"event": event.slug},
        )  # fmt: skip
        figures = brokerage.brokerage_balance(event=event)
        rows = [figure_row(stage.label, stage.counts) for stage in figures.stages]
        k = rows[0].counts.k if rows else privacy.min_group_size()
        return render(
            request,
            self.template_name,
            {
                **_common(k),
                "event": event,
                "figures": figures,
                "rows": rows,
                "chart": bars(rows, title=_("Brokerage funnel by gender category")),
            },
        )


# --- a cluster across events -----------------------------------------------------------


def period_label(when, period: str) -> str:
    if when is None:
        return "—"
    if period == "month":
        return dateformat.format(when, "M Y")  # "Mar 2026", the month in the active language
    if period == "year":
        return str(when.year)
    # Translators: a quarter of a year, e.g. "2026 Q1".
    return _("%(year)s Q%(quarter)s") % {"year": when.year, "quarter": (when.month - 1) // 3 + 1}


def cluster_figures(filters: balance.BalanceFilter) -> dict:
    """The aggregates of the dashboard, the CSV and the yearly report: fixed queries."""
    k = privacy.min_group_size()
    tables = balance.balance_by_period_and_kind(filters=filters)
    trend = [
        (period_label(row.group["when"], filters.period), row.measures) for row in tables["trend"]
    ]
    kinds = dict(Event.Kind.choices)
    by_kind = [
        (kinds.get(row.group["event__kind"], row.group["event__kind"]), row.measures)
        for row in tables["kind"]
    ]
    by_topic = [
        (row.group["event__topics__name"], row.measures)
        for row in balance.balance_by_topic(filters=filters)
    ]
    pipeline = balance.balance_pipeline(filters=filters)
    stage = balance.stage_in_period(filters=filters)
    return {
        "k": k,
        "trend": trend,
        "by_kind": by_kind,
        "by_topic": by_topic,
        "pipeline": pipeline.stages,
        "pipeline_quarter": period_label(pipeline.quarter, "quarter") if pipeline.quarter else "",
        "unreleased": balance.unreleased_count(filters=filters),
        "stage": stage,
    }


def grouped_rows(groups: list[tuple[str, dict[str, GenderCounts]]]) -> list[dict]:
    """Rows of the trend / kind / topic tables: registered by category, shares of women."""
    return [
        {
            "registered": figure_row(label, measures["registered"]),
            "participants_share": share_text(measures["participants"]),
            "attended_share": share_text(measures["attended"]),
        }
        for label, measures in groups
    ]


def dashboard_context(figures: dict) -> dict:
    trend = grouped_rows(figures["trend"])
    labels = [label for label, _m in figures["trend"]]
    pipeline = [figure_row(label, counts) for _key, label, counts in figures["pipeline"]]
    stage = [
        figure_row(STAGE_LABELS[key], figures["stage"][key])
        for key in (*StageRole.Role.values, "on_stage")
    ]
    return {
        **_common(figures["k"]),
        "trend": trend,
        "trend_line": charts.line_chart(
            [
                (
                    _("Share of women among registered"),
                    [m["registered"].share(WOMEN) for _l, m in figures["trend"]],
                ),
                (
                    _("Share of women among attended"),
                    [m["attended"].share(WOMEN) for _l, m in figures["trend"]],
                ),
            ],
            labels,
            title=_("Share of women per period"),
        ),
        "trend_bars": bars(
            [row["registered"] for row in trend], title=_("Registered per period, by category")
        ),
        "by_kind": grouped_rows(figures["by_kind"]),
        "by_topic": grouped_rows(figures["by_topic"]),
        "pipeline": pipeline,
        "pipeline_quarter": figures["pipeline_quarter"],
        "unreleased": figures["unreleased"],
        "pipeline_chart": bars(pipeline, title=_("Pipeline: where women drop out"))
        if pipeline
        else "",
        "stage": stage,
        "stage_chart": bars(stage, title=_("Who is on stage, by gender category")),
    }


class ClusterBalanceMixin(LoginRequiredMixin):
    def managed_cluster(self, request, cluster_slug: str) -> Cluster:
        return cluster_get_managed(user=request.user, slug=cluster_slug)

    def logged_filters(self, request, cluster: Cluster, *, view: str):
        """(form, filters) from the query string, the view logged; filters is None (and
        nothing is logged) when the filter is invalid."""
        form = BalanceFilterForm(request.GET)
        if form.is_bound and not form.is_valid():
            return form, None
        filters = form.filters(cluster=cluster)
        privacy.statistics_access_log(
            user=request.user, view=view, cluster=cluster, filters=filters.as_log()
        )
        return form, filters

    def bad_filter(self, request, cluster, form):
        return render(
            request,
            "insights/balance/dashboard.html",
            {"cluster": cluster, "form": form, "invalid": True},
            status=400,
        )


class ClusterBalanceView(ClusterBalanceMixin, View):
    """A cluster's dashboard: trends, kinds, topics, pipeline, stage, events vs target."""

    template_name = "insights/balance/dashboard.html"

    def get(self, request, cluster_slug: str):
        cluster = self.managed_cluster(request, cluster_slug)
        form, filters = self.logged_filters(request, cluster, view="balance_dashboard")
        if filters is None:
            return self.bad_filter(request, cluster, form)
        page_obj = paginate(
            request, balance.events_in(filters).order_by("-starts_at", "pk"), EVENTS_PER_PAGE
        )
        event_rows = balance.events_against_target(filters=filters, events=list(page_obj))
        context = dashboard_context(cluster_figures(filters))
        context.update(
            cluster=cluster,
            form=form,
            filters=filters,
            page_obj=page_obj,
            querystring=querystring_without_page(request),
            csv_query=querystring_without_page(request),
            event_rows=[
                {
                    "event": row.event,
                    "released": row.released,
                    "share": share_text(row.participants) if row.released else "—",
                    "participants": shown(row.participants.total, row.participants.k)
                    if row.released
                    else "—",
                    "badge": target_badge(cluster, row.target),
                    "position": row.target.position,
                    "all_male_panels": row.all_male_panels,
                }
                for row in event_rows
            ],
            report_year=(filters.end.year if filters.end else timezone.localdate().year),
        )
        return render(request, self.template_name, context)


def csv_rows(figures: dict) -> list[list[str]]:
    """(section, group, measure, category, value): published figures only, "<k" if hidden."""
    k = figures["k"]

    def cells(section: str, group: str, measure: str, counts: GenderCounts):
        for category in privacy.STATISTICS_CATEGORIES:
            value = counts.cells.get(category)
            yield [section, group, measure, str(CATEGORY_LABELS[category]), _value(value)]
        yield [section, group, measure, _("Total"), _value(counts.total)]

    def _value(value: int | None) -> str:
        return f"<{k}" if value is None else str(value)

    out = []
    for section, groups in (
        ("trend", figures["trend"]),
        ("kind", figures["by_kind"]),
        ("topic", figures["by_topic"]),
    ):
        for label, measures in groups:
            for measure, counts in measures.items():
                out.extend(cells(section, label, str(balance.FUNNEL_LABELS[measure]), counts))
    for _key, label, counts in figures["pipeline"]:
        out.extend(cells("pipeline", str(label), _("People"), counts))
    for key, counts in figures["stage"].items():
        out.extend(cells("stage", str(STAGE_LABELS.get(key, key)), _("Roles"), counts))
    return out


class ClusterBalanceCsvView(ClusterBalanceMixin, View):
    HEADER = (
        gettext_lazy("section"),
        gettext_lazy("group"),
        gettext_lazy("measure"),
        gettext_lazy("category"),
        gettext_lazy("value"),
    )

    def get(self, request, cluster_slug: str):
        cluster = self.managed_cluster(request, cluster_slug)
        form, filters = self.logged_filters(request, cluster, view="balance_csv")
        if filters is None:
            return self.bad_filter(request, cluster, form)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([str(column) for column in self.HEADER])
        for row in csv_rows(cluster_figures(filters)):
            writer.writerow([_csv_safe(cell) for cell in row])
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{cluster.slug}-balance.csv"'
        response["Cache-Control"] = "no-store"
        return response


class ClusterYearReportView(ClusterBalanceMixin, View):
    """A printable one-page report of one year, for boards and funders."""

    template_name = "insights/balance/year_report.html"

    def get(self, request, cluster_slug: str, year: int):
        cluster = self.managed_cluster(request, cluster_slug)
        if not 2000 <= year <= 2100:
            raise Http404(_("No such year."))
        filters = balance.BalanceFilter(
            cluster=cluster, start=date(year, 1, 1), end=date(year + 1, 1, 1), period="year"
        )
        privacy.statistics_access_log(
            user=request.user,
            view="balance_year_report",
            cluster=cluster,
            filters=filters.as_log(),
        )
        figures = cluster_figures(filters)
        context = dashboard_context(figures)
        events = list(balance.events_in(filters).only("pk", "title", "slug", "starts_at"))
        rows = balance.events_against_target(filters=filters, events=events)
        totals = figures["trend"][0][1] if figures["trend"] else None
        context.update(
            cluster=cluster,
            year=year,
            totals=(
                [figure_row(balance.FUNNEL_LABELS[key], totals[key]) for key in balance.FUNNEL]
                if totals
                else []
            ),
            share_of_women=share_text(totals["participants"]) if totals else _("too few to show"),
            event_count=len(events),
            below_target=sum(1 for row in rows if row.target.position == "below"),
            unknown_target=sum(1 for row in rows if row.target.position == "unknown"),
            all_male_panels=sum(row.all_male_panels for row in rows),
        )
        return render(request, self.template_name, context)


# --- a mentoring programme ------------------------------------------------------------


class ProgrammeBalanceView(ManagedProgrammeView):
    """Gender balance of the programme: figures only, each group of fewer than k hidden.
    Every view is logged (who, when, which programme)."""

    template_name = "insights/programme_balance.html"

    def get(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        # One entry per cluster running the programme: each cluster's log is complete.
        for cluster in programme.clusters.order_by("name"):
            privacy.statistics_access_log(
                user=request.user,
                view="programme_balance",
                cluster=cluster,
                filters={"programme": programme.slug},
            )
        figures = mentoring.programme_balance(programme=programme)
        k = privacy.min_group_size()
        chart = charts.stacked_bars(
            [(stage.label, stage.counts.cells) for stage in figures.stages],
            series=list(mentoring.CATEGORY_LABELS.items()),
            title=_("People per stage of the programme, by gender"),
            k=k,
        )
        return render(
            request,
            self.template_name,
            {
                "programme": programme,
                "balance": figures,
                "chart": chart,
                "categories": list(mentoring.CATEGORY_LABELS.values()),
                "k": k,
            },
        )
