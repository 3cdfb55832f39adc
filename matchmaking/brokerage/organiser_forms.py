"""Forms of the organiser pages of a brokerage day. They validate input; the services in
`matchmaking.brokerage.day_setup` decide and write."""

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from events.forms import EventTimesMixin, LocalDateTimeField
from events.models import Event
from matchmaking.brokerage.day_setup import MAX_NUMBERED_TABLES
from matchmaking.brokerage.models import BrokerageSettings, MeetingBlock, Table
from members.validators import validate_single_line


class SettingsForm(forms.ModelForm):
    class Meta:
        model = BrokerageSettings
        fields = ["scheduling", "request_expiry_hours", "default_max_meetings", "marketplace_open"]
        widgets = {"scheduling": forms.RadioSelect}


class BlockForm(EventTimesMixin, forms.Form):
    """A meeting block; its times are entered in the event's time zone."""

    local_time_fields = ("starts_at", "ends_at")

    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        required=False,
        validators=[validate_single_line],
        help_text=_("For example “Afternoon meetings”. Optional."),
    )
    starts_at = LocalDateTimeField(label=_("Starts"))
    ends_at = LocalDateTimeField(label=_("Ends"))
    slot_minutes = forms.IntegerField(
        label=_("Slot length (minutes)"), min_value=5, max_value=120, initial=20
    )
    gap_minutes = forms.IntegerField(
        label=_("Break between slots (minutes)"), min_value=0, max_value=60, initial=0
    )

    def __init__(self, *args, event: Event, instance: MeetingBlock | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zoneinfo.ZoneInfo(event.timezone)
        for name in self.local_time_fields:
            self.fields[name].help_text = _("In %(zone)s time.") % {"zone": event.timezone}
        if instance is not None and not self.is_bound:
            self.initial.update(
                name=instance.name,
                slot_minutes=instance.slot_minutes,
                gap_minutes=instance.gap_minutes,
            )
            self._show_local(instance, self.zone)

    def clean(self):
        cleaned = super().clean()
        self._to_utc(cleaned, self.zone)
        return cleaned


class TableForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80, validators=[validate_single_line])
    online_url = forms.URLField(
        label=_("Online room link"),
        required=False,
        assume_scheme="https",
        help_text=_("For an online room; shown only to the two people meeting there."),
    )
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)

    def __init__(self, *args, instance: Table | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if instance is not None and not self.is_bound:
            self.initial.update(
                name=instance.name, online_url=instance.online_url, is_active=instance.is_active
            )


class NumberedTablesForm(forms.Form):
    count = forms.IntegerField(
        label=_("How many numbered tables"),
        min_value=1,
        max_value=MAX_NUMBERED_TABLES,
        help_text=_("Named “Table 1”, “Table 2”, …; numbers already used are skipped."),
    )


class ScheduleRunForm(forms.Form):
    allow_moves = forms.BooleanField(
        label=_("Allow published meetings to move"),
        required=False,
        help_text=_(
            "Unticked, meetings already published stay in their slot and at their table; "
            "only the others are placed around them."
        ),
    )
