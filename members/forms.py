import zoneinfo
from functools import cache

from allauth.account.adapter import get_adapter
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from members import languages, services
from members.models import (
    ClusterMembership,
    GenderIdentity,
    Language,
    Organisation,
    Profile,
    Sector,
    Topic,
)
from members.widgets import LongSelect


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError next to the fields it names; the rest above the form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


@cache
def timezone_choices() -> list[tuple[str, str]]:
    zones = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    return [(z, z.replace("_", " ")) for z in zones]


class SignupExtraForm(forms.Form):
    """Extra sign-up field; allauth builds its sign-up form on top of this class."""

    display_name = forms.CharField(
        label=_("Your name"),
        max_length=120,
        help_text=_("As other members will see it, e.g. “Anna Keller”."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )

    def signup(self, request, user) -> None:
        # The language the visitor browsed the sign-up page in (their browser's, or the
        # switcher's); it can be changed on the profile later.
        services.profile_create(
            user=user,
            display_name=self.cleaned_data["display_name"],
            preferred_language=languages.browser_language(request),
        )


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices, label=_("Time zone"), widget=LongSelect)
    preferred_language = forms.ChoiceField(
        choices=[("", _("As my browser asks")), *settings.LANGUAGES],
        required=False,
        label=_("Language of the site and your e-mail"),
    )
    languages = forms.ModelMultipleChoiceField(
        Language.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Languages I speak"),
    )
    sectors = forms.ModelMultipleChoiceField(
        Sector.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Sectors I work in"),
    )
    expertise = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Expertise — what I can offer"),
    )
    interests = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Interests — what I am looking for"),
    )

    class Meta:
        model = Profile
        fields = [
            "display_name",
            "job_title",
            "country",
            "timezone",
            "preferred_language",
            "languages",
            "sectors",
            "expertise",
            "interests",
            "bio",
            "photo",
            "mentoring_stance",
            "visibility",
            "contact_policy",
        ]
        widgets = {
            "country": LongSelect,
            "bio": forms.Textarea(attrs={"rows": 5, "maxlength": 2000}),
            "mentoring_stance": forms.RadioSelect,
            "visibility": forms.RadioSelect,
            "contact_policy": forms.RadioSelect,
            "photo": forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        }
        labels = {
            "visibility": _("Who can find me in the directory"),
            "contact_policy": _("Who may send me messages through the site"),
        }
        help_texts = {
            "contact_policy": _(
                "Messages come to you by e-mail; the sender does not see your address "
                "unless you reply."
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form posted without it (an older page) leaves the choice as it was.
        self.fields["contact_policy"].required = False

    def changes(self) -> dict:
        changes = {name: self.cleaned_data[name] for name in self.Meta.fields}
        if not changes["contact_policy"]:
            del changes["contact_policy"]
        if changes["photo"] is False:  # "Clear" ticked: no photo any more
            changes["photo"] = ""
        return changes


class GenderForm(forms.Form):
    gender = forms.ChoiceField(
        choices=GenderIdentity.Gender.choices,
        widget=forms.RadioSelect,
        label=_("Gender"),
        initial=GenderIdentity.Gender.UNDISCLOSED,
    )
    self_description = forms.CharField(
        max_length=60,
        required=False,
        label=_("In your own words"),
        help_text=_("Only if you chose to self-describe. Never shown in any statistic."),
    )
    statistics_consent = forms.BooleanField(
        required=False,
        label=_("Count me, anonymously, in gender-balance statistics"),
        help_text=_(
            "Organisers see only totals with random noise added, from which no single "
            "person can be read. You can withdraw this at any time; figures drawn later "
            "will no longer include you."
        ),
    )
    stage_consent = forms.BooleanField(
        required=False,
        label=_("Count my gender in the balance of the panels and sessions I speak at"),
        help_text=_(
            "Speaking roles are public, so on a small panel this tells the organisers and "
            "anyone who sees the panel's balance your gender (for example, a panel of two "
            "men is flagged as all-male). Without this you count as undisclosed on stage."
        ),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("gender") == GenderIdentity.Gender.SELF_DESCRIBED
            and not (data.get("self_description") or "").strip()
        ):
            self.add_error("self_description", _("Describe your gender, or choose another option."))
        return data


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        # Checked by allauth as on its reauthentication page: a wrong password here counts
        # against this account's sign-in limit ("login_failed"), per account and per IP.
        if not get_adapter().reauthenticate(self.user, password):
            raise forms.ValidationError(_("That is not your password."))
        return password


class TopicForm(forms.Form):
    name = forms.CharField(max_length=80, label=_("Topic"))
    description = forms.CharField(max_length=240, required=False, label=_("Short description"))


class ClusterTargetsForm(forms.Form):
    """A cluster's gender-balance target: events below it are flagged on the balance pages."""

    women_target_percent = forms.IntegerField(
        label=_("Target share of women (%)"), min_value=0, max_value=100
    )
    balanced_from_percent = forms.IntegerField(
        label=_("Balanced from (%)"), min_value=0, max_value=100
    )
    balanced_to_percent = forms.IntegerField(
        label=_("Balanced up to (%)"), min_value=0, max_value=100
    )

    def clean(self):
        data = super().clean()
        low, high = data.get("balanced_from_percent"), data.get("balanced_to_percent")
        if low is not None and high is not None and low > high:
            self.add_error(
                "balanced_to_percent",
                _("The balanced zone must end at or above where it starts."),
            )
        return data


class MessagePreferencesForm(forms.Form):
    invitations = forms.BooleanField(
        required=False, label=_("Invitations to events organised by my clusters")
    )
    invitation_topics = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Only invitations about these topics"),
        help_text=_("Tick none to get invitations about every topic."),
    )
    reminders = forms.BooleanField(
        required=False, label=_("Reminders before events I registered for")
    )


class AffiliationRequestForm(forms.Form):
    organisation = forms.ModelChoiceField(
        Organisation.objects.order_by("name"),
        label=_("Organisation"),
        help_text=_(
            "Its admins or the cluster's organisers confirm that you work there; with a "
            "verified address at its domain you join at once."
        ),
    )


class DomainRuleForm(forms.Form):
    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("People with a verified address exactly at this domain join at once."),
        widget=forms.TextInput(attrs={"placeholder": "acme.example", "spellcheck": "false"}),
    )


class ClusterMembershipForm(forms.Form):
    organisation = forms.ModelChoiceField(
        Organisation.objects.order_by("name"), label=_("Organisation")
    )
    status = forms.ChoiceField(choices=ClusterMembership.Status.choices, label=_("Status"))
    joined_on = forms.DateField(
        label=_("Member since"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: since before records."),
    )
    left_on = forms.DateField(
        label=_("Left on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The first day without access. Empty for a former member: today."),
    )

    def clean(self):
        data = super().clean()
        joined, left = data.get("joined_on"), data.get("left_on")
        if joined and left and left <= joined:
            self.add_error("left_on", _("The end comes after the start."))
        return data
