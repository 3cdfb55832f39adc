"""Organiser forms for mentoring programmes. They validate input; the rules that need the
database live in `matchmaking.services`.

The application window is typed as the wall clock of the programme's own time zone (as
for events: a `datetime-local` input has no zone) and converted to UTC here.
"""

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from events.forms import EventTimesMixin, LocalDateTimeField
from matchmaking.models import Programme
from matchmaking.services import PROGRAMME_FIELDS
from members.models import Cluster


def _timezone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def _weight(label, help_text=""):
    return forms.IntegerField(
        label=label, min_value=0, max_value=100, initial=0, help_text=help_text
    )


class ProgrammeForm(EventTimesMixin, forms.Form):
    local_time_fields = ("applications_open_at", "applications_close_at")

    title = forms.CharField(label=_("Title"), max_length=200)
    summary = forms.CharField(label=_("Summary"), max_length=300, required=False)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown."),
    )
    clusters = forms.ModelMultipleChoiceField(
        label=_("Clusters"),
        queryset=Cluster.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Members of these clusters may apply. At least one you organise; add others to "
            "co-organise."
        ),
    )
    format = forms.ChoiceField(label=_("Format"), choices=Programme.Format.choices)
    circle_size = forms.IntegerField(
        label=_("Mentees per circle"),
        min_value=2,
        max_value=20,
        initial=6,
        help_text=_("Circles only."),
    )
    circle_meeting_weeks = forms.IntegerField(
        label=_("Weeks between two circle meetings"),
        min_value=1,
        max_value=12,
        initial=4,
        help_text=_("Circles only."),
    )
    timezone = forms.ChoiceField(
        label=_("Time zone of the programme"),
        choices=_timezone_choices,
        initial="Europe/Brussels",
        help_text=_("The application window below is in this zone."),
    )
    applications_open_at = LocalDateTimeField(label=_("Applications open"))
    applications_close_at = LocalDateTimeField(label=_("Applications close"))
    starts_on = forms.DateField(label=_("Programme starts"), widget=DateInput)
    ends_on = forms.DateField(label=_("Programme ends"), widget=DateInput)
    mentee_eligibility = forms.ChoiceField(
        label=_("Who may apply as mentee"), choices=Programme.Eligibility.choices
    )
    mentee_target_group = forms.CharField(
        label=_("Mentee target group"),
        max_length=200,
        required=False,
        help_text=_("e.g. 'Women working in the cluster'."),
    )
    mentor_eligibility = forms.ChoiceField(
        label=_("Who may apply as mentor"), choices=Programme.Eligibility.choices
    )
    mentor_target_group = forms.CharField(
        label=_("Mentor target group"), max_length=200, required=False
    )
    allow_mentor_gender_preference = forms.BooleanField(
        label=_("Mentees may state a preferred mentor gender"),
        required=False,
        help_text=Programme._meta.get_field("allow_mentor_gender_preference").help_text,
    )
    weight_topics = _weight(_("Weight: topics"))
    weight_relevance = _weight(_("Weight: sector and organisation kind"))
    weight_seniority = _weight(_("Weight: seniority gap"))
    weight_place = _weight(_("Weight: region or time zone"))
    weight_preferences = _weight(_("Weight: stated preferences"))
    acceptance_days = forms.IntegerField(
        label=_("Days to accept a match"), min_value=1, max_value=60, initial=14
    )
    nudge_after_days = forms.IntegerField(
        label=_("Remind pairs who have not met for (days)"),
        min_value=7,
        max_value=120,
        initial=30,
    )

    def __init__(self, *args, clusters, instance: Programme | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.fields["clusters"].queryset = clusters
        if instance is None:
            for name in PROGRAMME_FIELDS:
                default = Programme._meta.get_field(name).default
                if not callable(default):  # NOT_PROVIDED is a class
                    self.initial.setdefault(name, default)
        elif not self.is_bound:
            for name in self.fields:
                if name == "clusters":
                    self.initial[name] = list(instance.clusters.all())
                elif name not in self.local_time_fields:
                    self.initial[name] = getattr(instance, name)
            self._show_local(instance, zoneinfo.ZoneInfo(instance.timezone))

    def clean(self):
        cleaned = super().clean()
        zone_name = cleaned.get("timezone")
        if zone_name:
            self._to_utc(cleaned, zoneinfo.ZoneInfo(zone_name))
        return cleaned

    def changes(self) -> dict:
        """Plain field values for `services.programme_create/update` (clusters apart)."""
        return {name: self.cleaned_data[name] for name in PROGRAMME_FIELDS}


class MatchEndForm(forms.Form):
    reason = forms.CharField(
        label=_("Why does it end early?"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept with the match; both people are asked for their feedback."),
    )
