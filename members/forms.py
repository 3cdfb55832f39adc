import hashlib
import zoneinfo
from functools import cache

from allauth.account.adapter import get_adapter
from django import forms
from django.conf import settings
from django.core.cache import cache as shared_cache
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members import form_cache, languages, services
from members.models import (
    ClusterMembership,
    GenderIdentity,
    Language,
    Organisation,
    Profile,
    Sector,
    Topic,
)


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError next to the fields it names; the rest above the form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- long choice lists, rendered once for everyone -------------------------------------
# Rendering hundreds of options through Django's widget templates took most of a page's
# time (/me/edit/, /members/). These widgets write the same options in Python and keep them,
# rendered, in the shared cache (and a small copy in this process) under a key made of the
# language, the widget and the choices themselves: a topic, sector or language renamed, added
# or removed gives a new key, so an entry is never stale and needs no invalidation. Only
# options common to everyone are cached; which ones a person chose is applied per request.

_rendered_options: dict[str, list[tuple[str, str, str]]] = {}


def _options_key(widget: forms.Widget, name: str, attrs: dict, choices: list) -> str:
    source = repr((type(widget).__name__, name, sorted(attrs.items()), get_language(), choices))
    return "members:options:" + hashlib.sha256(source.encode()).hexdigest()


class CachedOptionsMixin:
    """For a ChoiceWidget with a flat list of choices: (value, as not chosen, as chosen)
    for each option, from the caches when the same list was rendered before."""

    def option_rows(self, name: str, attrs: dict) -> list[tuple[str, str, str]] | None:
        given = list(iter(self.choices))  # iter: no COUNT query for a queryset
        if any(isinstance(label, list | tuple) for _value, label in given):
            return None  # option groups: left to Django
        choices = [(str(value), str(label)) for value, label in given]
        key = _options_key(self, name, attrs, choices)
        rows = _rendered_options.get(key) or shared_cache.get(key)
        if rows is None:
            rows = [
                self.render_option(name, attrs, i, v, label) for i, (v, label) in enumerate(choices)
            ]
            shared_cache.set(key, rows, 24 * 3600)
        if len(_rendered_options) > 256:
            _rendered_options.clear()
        _rendered_options[key] = rows
        return rows

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        rows = self.option_rows(name, final_attrs)
        if rows is None:
            return super().render(name, value, attrs, renderer)
        chosen = set(self.format_value(value))
        # Every row was written by format_html (escaped) in render_option.
        options = mark_safe(  # noqa: S308
            "".join(as_chosen if v in chosen else plain for v, plain, as_chosen in rows)
        )
        return self.wrap(name, final_attrs, options)


class CachedSelect(CachedOptionsMixin, forms.Select):
    def render_option(self, name, attrs, index, value, label) -> tuple[str, str, str]:
        if value == label:  # an option's value is its text unless it says otherwise (HTML)
            plain, chosen = "<option>{}</option>", "<option selected>{}</option>"
            return value, format_html(plain, label), format_html(chosen, label)
        return (
            value,
            format_html('<option value="{}">{}</option>', value, label),
            format_html('<option value="{}" selected>{}</option>', value, label),
        )

    def wrap(self, name, attrs, options):
        return format_html("<select{}>{}</select>", flatatt({**attrs, "name": name}), options)


class CachedChoiceList(CachedOptionsMixin):
    """Radio buttons or checkboxes, each in a labelled `<div>` as Django writes them."""

    def render_option(self, name, attrs, index, value, label) -> tuple[str, str, str]:
        own = {"type": self.input_type, "name": name, "value": value}
        own.update({k: v for k, v in attrs.items() if k != "id"})
        if attrs.get("id"):
            own["id"] = f"{attrs['id']}_{index}"
        label_for = flatatt({"for": own["id"]}) if "id" in own else ""
        return (
            value,
            format_html("<div><label{}><input{}> {}</label></div>", label_for, flatatt(own), label),
            format_html(
                "<div><label{}><input{} checked> {}</label></div>", label_for, flatatt(own), label
            ),
        )

    def wrap(self, name, attrs, options):
        outer = flatatt({"id": attrs["id"]}) if attrs.get("id") else ""
        return format_html("<div{}>{}</div>", outer, options)


class CachedCheckboxes(CachedChoiceList, forms.CheckboxSelectMultiple):
    def use_required_attribute(self, initial):
        return False


class CachedRadios(CachedChoiceList, forms.RadioSelect):
    pass


class DirectoryFilterForm(forms.Form):
    """The directory's filter form (members.filters builds its fields) with cached lists."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if type(field.widget) is forms.Select:
                widget = CachedSelect(attrs=field.widget.attrs)
                widget.choices, widget.is_required = field.widget.choices, field.required
                field.widget = widget

    def use_choice_lists(self, choice_lists: dict) -> None:
        """Show the topics and sectors read by `selectors.choice_lists` (no query of their own)."""
        for name, source in (("topic", "topics"), ("sector", "sectors")):
            field = self.fields[name]
            empty = [("", field.empty_label)] if field.empty_label is not None else []
            field.widget.choices = [
                *empty,
                *((slug, label) for _pk, label, slug in choice_lists[source]),
            ]


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


LIST_SOURCES = {"languages": "languages", "sectors": "sectors", "expertise": "topics",
                "interests": "topics"}  # fmt: skip
CHOICE_LISTS = list(LIST_SOURCES)


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        choices=timezone_choices, label=_("Time zone"), widget=CachedSelect
    )
    preferred_language = forms.ChoiceField(
        choices=[("", _("As my browser asks")), *settings.LANGUAGES],
        required=False,
        label=_("Language of the site and your e-mail"),
    )
    languages = forms.ModelMultipleChoiceField(
        Language.objects.all(),
        required=False,
        widget=CachedCheckboxes,
        label=_("Languages I speak"),
    )
    sectors = forms.ModelMultipleChoiceField(
        Sector.objects.all(),
        required=False,
        widget=CachedCheckboxes,
        label=_("Sectors I work in"),
    )
    expertise = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        required=False,
        widget=CachedCheckboxes,
        label=_("Expertise — what I can offer"),
    )
    interests = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        required=False,
        widget=CachedCheckboxes,
        label=_("Interests — what I am looking for"),
    )

    class Meta:
        model = Profile
        # The four lists of choices are plain fields of this form: their initial values come
        # from `selectors.choice_lists`, in one query with the lists themselves.
        fields = [
            "display_name",
            "job_title",
            "country",
            "timezone",
            "preferred_language",
            "bio",
            "photo",
            "mentoring_stance",
            "visibility",
            "contact_policy",
        ]
        widgets = {
            "country": CachedSelect,
            "bio": forms.Textarea(attrs={"rows": 5, "maxlength": 2000}),
            "mentoring_stance": CachedRadios,
            "visibility": CachedRadios,
            "contact_policy": CachedRadios,
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

    field_order = [*Meta.fields[:5], *CHOICE_LISTS, *Meta.fields[5:]]

    def __init__(self, *args, choice_lists: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # A form posted without it (an older page) leaves the choice as it was.
        self.fields["contact_policy"].required = False
        if choice_lists:  # read in one query with the person's choices (to show, not to check)
            for name, source in LIST_SOURCES.items():
                self.fields[name].widget.choices = [
                    (pk, label) for pk, label, _code in choice_lists[source]
                ]

    def changes(self) -> dict:
        changes = {name: self.cleaned_data[name] for name in [*self.Meta.fields, *CHOICE_LISTS]}
        if not changes["contact_policy"]:
            del changes["contact_policy"]
        if changes["photo"] is False:  # "Clear" ticked: no photo any more
            changes["photo"] = ""
        return changes


# Bump when the profile or filter form's fields, labels or markup change: cached forms are
# then unused.
PROFILE_FORM_VERSION = 1


def profile_form_html(form: ProfileForm) -> str:
    """The unbound profile form as HTML, rendered once per state of its owner's profile.

    The key is the person's own (their user id) with a digest of all the form shows: their
    current values and choices, the lists to choose from and the language. Any edit — theirs,
    a renamed or new topic — gives a new key, so what is served is never stale. Nothing
    else personal is in it (the CSRF token is outside, in the page). Only the newest is
    kept, and erasing the account deletes it (members.form_cache).
    """
    assert not form.is_bound
    lists = [(name, list(form.fields[name].widget.choices)) for name in CHOICE_LISTS]
    source = repr((PROFILE_FORM_VERSION, get_language(), sorted(form.initial.items()), lists))
    key = (
        f"members:profile-form:{form.instance.user_id}:"
        + hashlib.sha256(source.encode()).hexdigest()
    )
    html = form_cache.get(key=key)
    if html is None:
        html = str(form)
        form_cache.put(user_id=form.instance.user_id, key=key, html=html)
    return html


def directory_filter_html(*, form: forms.Form, choice_lists: dict) -> str:
    """The directory's filter fields as HTML, rendered once per language, lists and choice
    of filters (the same for everyone). A free-text search is rendered each time: its words
    are not worth a cache entry."""
    data = sorted(form.data.lists()) if form.is_bound else []
    if any(name == "q" and any(v.strip() for v in values) for name, values in data):
        return render_to_string("includes/filter_fields.html", {"form": form})
    lists = (choice_lists["topics"], choice_lists["sectors"])
    source = repr((PROFILE_FORM_VERSION, get_language(), data, lists))
    key = "members:directory-filter:" + hashlib.sha256(source.encode()).hexdigest()
    html = shared_cache.get(key)
    if html is None:
        html = render_to_string("includes/filter_fields.html", {"form": form})
        shared_cache.set(key, html, 3600)
    return html


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
