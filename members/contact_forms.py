"""Forms of member-to-member contact: writing a message and reporting one."""

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import ContactReport
from members.validators import validate_single_line

SUBJECT_MAX = 160
BODY_MAX = 5000
DETAILS_MAX = 2000


class ContactMessageForm(forms.Form):
    subject = forms.CharField(
        label=_("Subject"),
        max_length=SUBJECT_MAX,
        validators=[validate_single_line],
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    body = forms.CharField(
        label=_("Your message"),
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": BODY_MAX}),
        help_text=_("Plain text, at most 5,000 characters."),
    )


class ContactReportForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("What is wrong with this message?"),
        choices=ContactReport.Reason.choices,
        widget=forms.RadioSelect,
    )
    details = forms.CharField(
        label=_("Anything the organisers should know (optional)"),
        required=False,
        max_length=DETAILS_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": DETAILS_MAX}),
    )
