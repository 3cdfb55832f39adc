"""Organiser forms. They validate input; the rules that need the database live in
`events.authoring`.

Dates and times are typed as the wall clock of the event's own time zone (a
`datetime-local` input has no zone) and converted to UTC here, so an organiser in Lisbon
schedules a Vienna event in Vienna time, on either side of a daylight-saving change; a
time the clocks skip or repeat is refused.

Titles, names and places are one line: a line break or an invisible control character
is refused with a message (they would break calendar files and mail subjects);
descriptions and addresses may span lines.
"""

import re
import zoneinfo
from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events import attendance
from events.authoring import GUEST_GENDERS, text_error
from events.models import Event, Session, StageRole, default_reminder_offsets
from events.reminders import REMINDER_OFFSET_CHOICES
from members import imports
from members.models import Cluster, GenderIdentity, Language, Profile, Topic

LOCAL_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def validate_one_line(value: str) -> None:
    message = text_error(value)
    if message:
        raise ValidationError(message, code="not_one_line")


def validate_text(value: str) -> None:
    message = text_error(value, multi_line=True)
    if message:
        raise ValidationError(message, code="control_character")


ONE_LINE = [validate_one_line]
TEXT = [validate_text]


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class LocalDateTimeField(forms.Field):
    """A wall-clock date and time without a zone; the form attaches the event's zone."""

    widget = LocalDateTimeInput
    default_error_messages = {"invalid": _("Enter a date and time.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        value = str(value).strip()
        for fmt in LOCAL_INPUT_FORMATS:
            try:
                return datetime.strptime(value, fmt)  # noqa: DTZ007 - zone attached by the form
            except ValueError:
                continue
        raise ValidationError(self.error_messages["invalid"], code="invalid")


def local_to_utc(value: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as UTC; refuses times a DST change skips or repeats."""
    if not 1900 <= value.year <= 2200:
        raise ValidationError(_("Enter a date between 1900 and 2200."), code="out_of_range")
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise ValidationError(
            _("%(time)s does not exist in %(zone)s: the clocks skip it (daylight saving)."),
            params={"time": value.strftime("%H:%M"), "zone": zone.key},
            code="nonexistent",
        )
    if first.utcoffset() != second.utcoffset():
        raise ValidationError(
            _("%(time)s happens twice in %(zone)s (the clocks go back); choose another time."),
            params={"time": value.strftime("%H:%M"), "zone": zone.key},
            code="ambiguous",
        )
    return first.astimezone(UTC)


class EventTimesMixin:
    """Shows stored UTC times in the event's zone and reads the inputs back as UTC."""

    local_time_fields: tuple[str, ...] = ()

    def _show_local(self, instance, zone: zoneinfo.ZoneInfo) -> None:
        for name in self.local_time_fields:
            value = getattr(instance, name, None) if instance is not None else None
            if value is not None:
                self.initial[name] = timezone.localtime(value, zone).replace(tzinfo=None)

    def _to_utc(self, cleaned: dict, zone: zoneinfo.ZoneInfo) -> None:
        for name in self.local_time_fields:
            value = cleaned.get(name)
            if value is None:
                continue
            try:
                cleaned[name] = local_to_utc(value, zone)
            except ValidationError as error:
                self.add_error(name, error)


def _timezone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class EventForm(EventTimesMixin, forms.Form):
    local_time_fields = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")

    kind = forms.ChoiceField(label=_("Kind"), choices=Event.Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=200, validators=ONE_LINE)
    summary = forms.CharField(
        label=_("Summary"), max_length=300, required=False, validators=ONE_LINE
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown."),
        validators=TEXT,
    )
    clusters = forms.ModelMultipleChoiceField(
        label=_("Organising clusters"),
        queryset=Cluster.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("At least one you organise; add others to co-organise."),
    )
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"),
        queryset=Topic.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    language = forms.ModelChoiceField(
        label=_("Language"), queryset=Language.objects.order_by("name"), required=False
    )
    timezone = forms.ChoiceField(
        label=_("Time zone of the event"),
        choices=_timezone_choices,
        initial="Europe/Brussels",
        help_text=_("Dates and times below are in this zone."),
    )
    starts_at = LocalDateTimeField(label=_("Starts"))
    ends_at = LocalDateTimeField(label=_("Ends"))
    venue_name = forms.CharField(
        label=_("Venue"), max_length=200, required=False, validators=ONE_LINE
    )
    venue_address = forms.CharField(
        label=_("Venue address"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=TEXT,
    )
    online_platform = forms.CharField(
        label=_("Online platform"),
        max_length=80,
        required=False,
        help_text=_("Zoom, Teams, Webex, …"),
        validators=ONE_LINE,
    )
    online_url = forms.URLField(
        label=_("Join link"),
        required=False,
        help_text=_("Shown only to confirmed participants."),
        assume_scheme="https",
    )
    capacity = forms.IntegerField(
        label=_("Capacity"), min_value=1, required=False, help_text=_("Empty: no limit.")
    )
    registration_opens_at = LocalDateTimeField(label=_("Registration opens"), required=False)
    registration_closes_at = LocalDateTimeField(label=_("Registration closes"), required=False)
    audience = forms.ChoiceField(
        label=_("Audience"), choices=Event.Audience.choices, initial=Event.Audience.MEMBERS
    )
    approval_required = forms.BooleanField(
        label=_("Organisers approve each registration"), required=False
    )
    materials_url = forms.URLField(label=_("Materials"), required=False, assume_scheme="https")
    recording_url = forms.URLField(label=_("Recording"), required=False, assume_scheme="https")
    reminder_offsets = forms.TypedMultipleChoiceField(
        label=_("Reminders"),
        choices=[(str(minutes), label) for minutes, label in REMINDER_OFFSET_CHOICES],
        coerce=int,
        required=False,
        initial=[str(minutes) for minutes in default_reminder_offsets()],
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "E-mailed to confirmed participants. A new online event also gets the "
            "one-hour reminder unless you change this."
        ),
    )

    def __init__(self, *args, instance: Event | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None and not self.is_bound:
            for name in self.fields:
                if name in ("clusters", "topics"):
                    self.initial[name] = list(getattr(instance, name).all())
                elif name not in self.local_time_fields:
                    self.initial[name] = getattr(instance, name)
            self._show_local(instance, zoneinfo.ZoneInfo(instance.timezone))

    def clean(self):
        cleaned = super().clean()
        zone_name = cleaned.get("timezone")
        if zone_name:
            self._to_utc(cleaned, zoneinfo.ZoneInfo(zone_name))
        self._clean_reminder_offsets(cleaned)
        return cleaned

    def _clean_reminder_offsets(self, cleaned: dict) -> None:
        offsets = cleaned.get("reminder_offsets")
        if offsets is None:
            return
        online = bool(cleaned.get("online_url") or cleaned.get("online_platform"))
        if self.instance is None and online and "reminder_offsets" not in self.changed_data:
            offsets = [*offsets, 60]  # online events: also one hour before, by default
        cleaned["reminder_offsets"] = sorted(set(offsets), reverse=True)

    def changes(self) -> dict:
        """Plain field values for `events.authoring` (clusters and topics go separately)."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("clusters", "topics")
        }


class SessionForm(EventTimesMixin, forms.Form):
    local_time_fields = ("starts_at", "ends_at")

    kind = forms.ChoiceField(label=_("Kind"), choices=Session.Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=200, validators=ONE_LINE)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        validators=TEXT,
    )
    track = forms.CharField(label=_("Track"), max_length=80, required=False, validators=ONE_LINE)
    room = forms.CharField(label=_("Room"), max_length=80, required=False, validators=ONE_LINE)
    starts_at = LocalDateTimeField(label=_("Starts"))
    ends_at = LocalDateTimeField(label=_("Ends"))
    capacity = forms.IntegerField(
        label=_("Capacity"), min_value=1, required=False, help_text=_("Empty: no limit.")
    )

    def __init__(self, *args, event: Event, instance: Session | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.event = event
        self.zone = zoneinfo.ZoneInfo(event.timezone)
        for name in self.local_time_fields:
            self.fields[name].help_text = _("In %(zone)s time.") % {"zone": event.timezone}
        if instance is not None and not self.is_bound:
            for name in self.fields:
                if name not in self.local_time_fields:
                    self.initial[name] = getattr(instance, name)
            self._show_local(instance, self.zone)

    def clean(self):
        cleaned = super().clean()
        self._to_utc(cleaned, self.zone)
        return cleaned


class ProfileChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Profile) -> str:
        organisation = getattr(obj.organisation, "name", "")
        return f"{obj.display_name} — {organisation}" if organisation else obj.display_name


class StageRoleForm(forms.Form):
    """A member, or an external guest by name; a guest's gender only with their consent."""

    role = forms.ChoiceField(label=_("Role"), choices=StageRole.Role.choices)
    session = forms.ModelChoiceField(
        label=_("Session"),
        queryset=Session.objects.none(),
        required=False,
        empty_label=_("The whole event"),
    )
    profile = ProfileChoiceField(label=_("Member"), queryset=Profile.objects.none(), required=False)
    guest_name = forms.CharField(
        label=_("…or external guest: name"), max_length=120, required=False, validators=ONE_LINE
    )
    guest_organisation = forms.CharField(
        label=_("Guest's organisation"), max_length=160, required=False, validators=ONE_LINE
    )
    guest_gender = forms.ChoiceField(
        label=_("Guest's gender (optional, for panel balance)"),
        choices=[("", _("Not recorded"))]
        + [(v, label) for v, label in GenderIdentity.Gender.choices if v in GUEST_GENDERS],
        required=False,
    )
    guest_gender_consent = forms.BooleanField(
        label=_("The guest agreed that their gender is recorded, for anonymous panel statistics"),
        required=False,
    )

    def __init__(self, *args, event: Event, profiles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = event.sessions.filter(is_cancelled=False)
        self.fields["profile"].queryset = profiles

    def clean(self):
        cleaned = super().clean()
        profile, guest_name = cleaned.get("profile"), (cleaned.get("guest_name") or "").strip()
        if profile is None and not guest_name:
            raise ValidationError(_("Choose a member or enter the name of an external guest."))
        if profile is not None and guest_name:
            raise ValidationError(_("Choose a member or enter an external guest, not both."))
        if cleaned.get("guest_gender"):
            if profile is not None:
                self.add_error(
                    "guest_gender", _("A member's gender is theirs to record, not the organisers'.")
                )
            elif not cleaned.get("guest_gender_consent"):
                self.add_error(
                    "guest_gender_consent",
                    _("Tick the consent box to record the guest's gender, or leave it empty."),
                )
        if not cleaned.get("guest_gender"):
            cleaned["guest_gender_consent"] = False
        return cleaned


class AttendanceImportForm(forms.Form):
    file = forms.FileField(
        label=_("Participant list (CSV)"),
        help_text=_("The participant report exported by Zoom, Teams or Webex."),
    )

    def clean_file(self) -> bytes:
        """The file's bytes, once its size, rows and e-mail column are right."""
        data = imports.upload_read(upload=self.cleaned_data["file"])
        try:
            attendance.participant_file_check(data, max_rows=settings.IMPORT_MAX_ROWS)
        except attendance.ParticipantFileError as error:
            raise ValidationError(str(error), code="not_a_participant_list") from None
        return data


class InvitationForm(forms.Form):
    emails = forms.CharField(
        label=_("E-mail addresses"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One per line, or separated by commas or semicolons."),
    )

    def clean_emails(self) -> list[str]:
        return [e for e in re.split(r"[\s,;]+", self.cleaned_data["emails"]) if e]
