"""Forms of a brokerage day's participant pages. They check the shape of the input; the
rules (a seat, a free common slot, the marketplace being open, …) are the services', and
their errors are put next to the fields by the views."""

from zoneinfo import ZoneInfo

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_countries import countries

from matchmaking.brokerage.marketplace import MarketFilters
from matchmaking.brokerage.models import MarketItem, MeetingBlock, Participant, Slot
from members.models import Organisation, Topic
from members.widgets import LongSelect


def time_span_label(starts, ends, *, zone: str) -> str:
    """A span of time in the event's zone, in the reader's formats, naming the zone:
    "12/03/2026 14:00–14:20, Europe/Brussels"."""
    where = ZoneInfo(zone)
    return _("%(start)s–%(end)s, %(zone)s") % {
        "start": formats.date_format(timezone.localtime(starts, where), "SHORT_DATETIME_FORMAT"),
        "end": formats.time_format(timezone.localtime(ends, where), "TIME_FORMAT"),
        "zone": zone,
    }


def slot_label(slot: Slot, *, zone: str) -> str:
    """A slot's time in the event's zone (`zone`, the event's `timezone`)."""
    return time_span_label(slot.starts_at, slot.ends_at, zone=zone)


class _BlockChoiceField(forms.ModelMultipleChoiceField):
    zone = "UTC"  # set by the form to the event's zone

    def label_from_instance(self, obj: MeetingBlock) -> str:
        when = time_span_label(obj.starts_at, obj.ends_at, zone=self.zone)
        if not obj.name:
            return when
        return _("%(name)s (%(when)s)") % {"name": obj.name, "when": when}


# What the marketplace shows of a participant, said where they choose who sees it.
SHOWN_TO_ALL_HELP = _(
    "Your card shows your name, organisation, kind of organisation, country, the line "
    "about what you bring, and your offers and requests. Without this, only the people "
    "who may see your member profile in the directory see your card. Ticked, every "
    "participant of this day sees it; your job title, biography, expertise, interests and "
    "languages stay visible only to those who may see your profile."
)


class ParticipantForm(forms.Form):
    """What a participant tells the others and the scheduler about themself."""

    headline = forms.CharField(
        label=Participant._meta.get_field("headline").verbose_name,
        max_length=200,
        required=False,
        help_text=_("One line shown on your card in the marketplace."),
    )
    organisation_kind = forms.ChoiceField(
        label=_("Kind of organisation"), choices=Organisation.Kind.choices
    )
    max_meetings = forms.IntegerField(
        label=Participant._meta.get_field("max_meetings").verbose_name,
        min_value=0,
        max_value=100,
        help_text=_("0: you do not want to be asked for meetings."),
    )
    blocks = _BlockChoiceField(
        queryset=MeetingBlock.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Meeting blocks I attend"),
        help_text=_("If you tick none, you are counted as present in all of them."),
    )
    shown_to_all = forms.BooleanField(
        label=Participant._meta.get_field("shown_to_all").verbose_name,
        required=False,
        help_text=SHOWN_TO_ALL_HELP,
    )

    def __init__(self, *args, event, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["blocks"].queryset = MeetingBlock.objects.filter(event=event).order_by(
            "starts_at", "pk"
        )
        self.fields["blocks"].zone = event.timezone

    def submission(self) -> dict:
        data = self.cleaned_data
        return {
            "organisation_kind": data["organisation_kind"],
            "headline": data["headline"],
            "max_meetings": data["max_meetings"],
            "block_ids": [block.pk for block in data["blocks"]],
            "shown_to_all": data["shown_to_all"],
        }


class ItemForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("Offer or request"),
        choices=MarketItem.Direction.choices,
        widget=forms.RadioSelect,
    )
    type = forms.ChoiceField(
        label=pgettext_lazy("kind of offer or request", "Type"), choices=MarketItem.Type.choices
    )
    title = forms.CharField(label=_("Title"), max_length=150)
    description = forms.CharField(
        label=_("Short text"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 1000}),
        help_text=_("What you offer or look for, in a few sentences."),
    )
    topics = forms.ModelMultipleChoiceField(
        Topic.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Topics"),
    )

    def submission(self) -> dict:
        data = self.cleaned_data
        return {
            "direction": data["direction"],
            "type": data["type"],
            "title": data["title"],
            "description": data["description"],
            "topic_ids": [topic.pk for topic in data["topics"]],
        }


class _SlotField(forms.TypedChoiceField):
    """A choice among given slots, by id; empty when `required` is off."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, empty_value=None, **kwargs)

    def set_slots(self, slots, *, zone: str, empty_label=""):
        choices = [(slot.pk, slot_label(slot, zone=zone)) for slot in slots]
        self.choices = [("", empty_label), *choices] if empty_label else choices


class MeetingRequestForm(forms.Form):
    message = forms.CharField(
        label=_("Message"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 1000}),
        help_text=_("Say why you would like to meet."),
    )
    slot = _SlotField(label=_("Proposed time"), required=False)

    def __init__(self, *args, slots=None, zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        if slots is None:
            del self.fields["slot"]
        else:
            self.slots = {slot.pk: slot for slot in slots}
            self.fields["slot"].set_slots(slots, zone=zone, empty_label=_("Let them choose"))
            self.fields["slot"].help_text = _(
                "A free time you both have. It is held for you until they answer."
            )

    def chosen_slot(self) -> Slot | None:
        pk = self.cleaned_data.get("slot")
        return self.slots.get(pk) if pk else None


class AnswerForm(forms.Form):
    ACCEPT, DECLINE, WITHDRAW = "accept", "decline", "withdraw"

    action = forms.ChoiceField(
        choices=[
            (ACCEPT, _("Accept")),
            (DECLINE, _("Decline")),
            (WITHDRAW, _("Withdraw")),
        ]
    )
    slot = forms.IntegerField(required=False, min_value=1)


class MeetingFeedbackForm(forms.Form):
    held = forms.TypedChoiceField(
        label=_("Did the meeting take place?"),
        coerce=lambda value: value == "yes",
        choices=[("yes", _("Yes")), ("no", _("No"))],
        widget=forms.RadioSelect,
    )
    follow_up = forms.TypedChoiceField(
        label=_("May it lead to cooperation?"),
        coerce=lambda value: {"yes": True, "no": False}.get(value),
        empty_value=None,
        required=False,
        choices=[("yes", _("Yes")), ("no", _("No")), ("", _("Too early to say"))],
        widget=forms.RadioSelect,
    )


class MarketFilterForm(forms.Form):
    """The marketplace's search box and filters (GET)."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Name, organisation or words of an offer or request."),
    )
    # Selects rendered in one pass (members.widgets): Django's template per option made
    # the filters a good part of the page's time.
    kind = forms.ChoiceField(label=_("Kind of organisation"), required=False, widget=LongSelect)
    country = forms.ChoiceField(label=_("Country"), required=False, widget=LongSelect)
    topic = forms.TypedChoiceField(
        label=_("Topic"), required=False, coerce=int, empty_value=None, widget=LongSelect
    )
    item_type = forms.ChoiceField(
        label=pgettext_lazy("kind of offer or request", "Type"),
        required=False,
        choices=[("", _("Any type")), *MarketItem.Type.choices],
        widget=LongSelect,
    )
    direction = forms.ChoiceField(
        label=_("Offers or requests"),
        required=False,
        widget=LongSelect,
        choices=[
            ("", _("Both")),
            (MarketItem.Direction.OFFER, _("Offers")),
            (MarketItem.Direction.REQUEST, _("Requests")),
        ],
    )

    def __init__(self, *args, facets: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Any kind")), *facets["kinds"]]
        # Only the listed countries' names: `dict(countries)` would translate all 250.
        self.fields["country"].choices = [
            ("", _("Any country")),
            *[(code, countries.name(code) or code) for code in facets["countries"]],
        ]
        self.fields["topic"].choices = [
            ("", _("Any topic")),
            *facets["topics"],
        ]

    def filters(self) -> MarketFilters:
        if not self.is_bound or not self.is_valid():
            return MarketFilters()
        data = self.cleaned_data
        return MarketFilters(
            kind=data["kind"],
            country=data["country"],
            topic=data["topic"],
            item_type=data["item_type"],
            direction=data["direction"],
            q=data["q"].strip(),
        )
