"""Member forms of the mentoring pages. They check the shape of the input; the rules
(topics required, target groups, open windows, …) are the services' and their errors are
put next to the fields by the views."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from matchmaking.models import Application, Programme
from members.forms import timezone_choices
from members.models import Language, Organisation, Sector, Topic, User


class _PersonChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        profile = getattr(obj, "profile", None)
        return profile.display_name if profile else _("A member")


def _country_choices():
    return [("", _("—")), *countries]


class ApplicationForm(forms.Form):
    """Apply as mentor or mentee. Fields that do not concern the role or the programme
    are removed, so they are neither shown nor read."""

    topics = forms.ModelMultipleChoiceField(
        Topic.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )
    languages = forms.ModelMultipleChoiceField(
        Language.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Languages you can meet in"),
    )
    sectors = forms.ModelMultipleChoiceField(
        Sector.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Your sectors"),
    )
    seniority = forms.TypedChoiceField(
        coerce=int,
        choices=Application.Seniority.choices,
        initial=Application.Seniority.MID,
        label=_("Seniority"),
    )
    meeting_format = forms.ChoiceField(
        choices=Application.MeetingFormat.choices,
        initial=Application.MeetingFormat.EITHER,
        widget=forms.RadioSelect,
        label=_("How you would like to meet"),
    )
    country = forms.ChoiceField(choices=_country_choices, required=False, label=_("Country"))
    region = forms.CharField(max_length=120, required=False, label=_("Region or city"))
    timezone = forms.ChoiceField(
        choices=timezone_choices, initial="Europe/Brussels", label=_("Time zone")
    )
    availability = forms.CharField(
        max_length=200,
        required=False,
        label=_("Availability"),
        help_text=_("e.g. 'one hour every two weeks, evenings'"),
    )
    # Mentors
    capacity = forms.IntegerField(
        min_value=1,
        max_value=10,
        initial=1,
        label=_("How many mentees you can take on"),
    )
    gender_may_be_matched = forms.BooleanField(
        required=False,
        label=_("Mentees who asked for a mentor of my gender may be matched with me"),
        help_text=_("Your gender is used for this only, and never shown to anyone."),
    )
    # Mentees
    goals = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": 2000}),
        label=_("What you want from mentoring"),
    )
    preferred_organisation_kinds = forms.MultipleChoiceField(
        choices=Organisation.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("A mentor from these kinds of organisation (optional)"),
    )
    preferred_sectors = forms.ModelMultipleChoiceField(
        Sector.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("A mentor who knows these sectors (optional)"),
    )
    preferred_mentor_gender = forms.ChoiceField(
        choices=[("", _("No preference")), *Application.PREFERRED_GENDERS],
        required=False,
        widget=forms.RadioSelect,
        label=_("Preferred mentor (optional)"),
        help_text=_("A preference, never a rule. Only you see it; your mentor is not told."),
    )
    avoid = _PersonChoiceField(
        User.objects.none(),
        required=False,
        label=_("People you would rather not be matched with (optional)"),
        help_text=_("Nobody is told."),
    )
    belongs_to_target_group = forms.BooleanField(required=False)

    MENTOR_ONLY = ("capacity", "gender_may_be_matched")
    MENTEE_ONLY = (
        "goals",
        "preferred_organisation_kinds",
        "preferred_sectors",
        "preferred_mentor_gender",
        "avoid",
    )
    RELATIONS = ("topics", "languages", "sectors", "preferred_sectors", "avoid")

    def __init__(self, *args, programme: Programme, role: str, avoid_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.programme, self.role = programme, role
        is_mentor = role == Application.Role.MENTOR
        for name in self.MENTEE_ONLY if is_mentor else self.MENTOR_ONLY:
            del self.fields[name]
        self.fields["topics"].label = (
            _("Topics you can mentor on") if is_mentor else _("Topics you want to grow in")
        )
        if is_mentor and programme.is_circles:
            del self.fields["capacity"]  # a mentor leads one circle
        if not programme.allow_mentor_gender_preference:
            self.fields.pop("gender_may_be_matched", None)
            self.fields.pop("preferred_mentor_gender", None)
        eligibility = programme.mentor_eligibility if is_mentor else programme.mentee_eligibility
        if eligibility == Programme.Eligibility.TARGET_GROUP:
            group = programme.mentor_target_group if is_mentor else programme.mentee_target_group
            field = self.fields["belongs_to_target_group"]
            field.label = _("I belong to this track's target group: %(group)s") % {"group": group}
        else:
            del self.fields["belongs_to_target_group"]
        if "avoid" in self.fields:
            self.fields["avoid"].queryset = (
                avoid_choices if avoid_choices is not None else User.objects.none()
            )

    def submission(self) -> dict:
        """The keyword arguments of `services.application_submit` (without who and where)."""
        data = self.cleaned_data
        fields = {
            name: data[name] for name in self.fields if name not in self.RELATIONS and name in data
        }
        return {
            "fields": fields,
            "topics": data.get("topics") or [],
            "languages": data.get("languages") or [],
            "sectors": data.get("sectors") or [],
            "preferred_sectors": data.get("preferred_sectors") or [],
            "avoid": data.get("avoid") or [],
        }


class RespondForm(forms.Form):
    accept = forms.TypedChoiceField(
        coerce=lambda value: value == "1", choices=[("1", ""), ("0", "")]
    )


class MeetingLogForm(forms.Form):
    met_on = forms.DateField(
        label=_("Date of the meeting"), widget=forms.DateInput(attrs={"type": "date"})
    )
    notes = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 4000}),
        label=_("Notes"),
        help_text=_("Only the two of you see them."),
    )


class GoalsForm(forms.Form):
    goals = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 4000}),
        label=_("Goals"),
    )
    progress = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 4000}),
        label=_("Progress"),
    )


class EndForm(forms.Form):
    completed = forms.TypedChoiceField(
        coerce=lambda value: value == "1", choices=[("1", ""), ("0", "")]
    )
    reason = forms.CharField(max_length=300, required=False, label=_("Why does it end early?"))


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, str(n)) for n in range(1, 6)],
        widget=forms.RadioSelect,
        label=_("How was the mentoring? (1 = poor, 5 = excellent)"),
    )
    comment = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
        label=_("Comment (optional)"),
        help_text=_("Helps the organisers improve the programme."),
    )
