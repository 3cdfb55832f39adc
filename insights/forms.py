"""The filter of the cluster gender-balance dashboard and its CSV export."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Event
from insights.balance import PERIODS, BalanceFilter
from members.models import Cluster, Topic

PERIOD_LABELS = {"month": _("Month"), "quarter": _("Quarter"), "year": _("Year")}
PERIOD_CHOICES = [(period, PERIOD_LABELS[period]) for period in PERIODS]
# A dashboard of a century by month is no use to anyone, and costly to draw.
MAX_DAYS = {"month": 5 * 366, "quarter": 15 * 366, "year": 50 * 366}


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 12 months: from the same day a year ago up to and including today."""
    today = today or timezone.localdate()
    try:
        start = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        start = today.replace(year=today.year - 1, day=28)
    return start, today


class BalanceFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Group by"), choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("Up to and including"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("Any kind")), *Event.Kind.choices], required=False
    )
    topic = forms.ModelChoiceField(
        Topic.objects.order_by("name"),
        label=_("Topic"),
        required=False,
        to_field_name="slug",
        empty_label=_("Any topic"),
    )

    def __init__(self, data=None, **kwargs):
        # An empty query string is the default view, not an invalid one.
        super().__init__(data if data else None, **kwargs)
        if not self.is_bound:
            start, end = default_range()
            self.initial = {"period": "quarter", "start": start, "end": end, **self.initial}

    def clean(self):
        data = super().clean()
        start_default, end_default = default_range()
        start = data.get("start") or start_default
        end = data.get("end") or end_default
        if "start" in data and "end" in data and end < start:
            raise forms.ValidationError(_("The end date is before the start date."))
        period = data.get("period") or "quarter"
        if (end - start).days > MAX_DAYS.get(period, 0):
            raise forms.ValidationError(
                _("That range is too long to show by %(period)s: choose a longer period or a "
                  "shorter range.")
                % {"period": dict(PERIOD_CHOICES)[period].lower()}
            )  # fmt: skip
        data.update(start=start, end=end, period=period)
        return data

    def filters(self, *, cluster: Cluster) -> BalanceFilter:
        """The dashboard filter; the end date is shown inclusive and stored exclusive."""
        if self.is_bound:
            data = self.cleaned_data
        else:
            start, end = default_range()
            data = {"start": start, "end": end, "period": "quarter", "kind": "", "topic": None}
        return BalanceFilter(
            cluster=cluster,
            start=data["start"],
            end=data["end"] + timedelta(days=1),
            kind=data.get("kind") or "",
            topic=data.get("topic"),
            period=data["period"],
        )
