"""The organisers' import of member organisations from their CRM: upload a CSV file, see
what it would change, confirm. The confirmed text travels signed, so what is imported is
exactly what was previewed; `members/crm_import.py` checks it all again before writing."""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core import signing
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from members import crm_import, selectors
from members.models import Cluster, Organisation, User

SIGNING_SALT = "members.crm_import"
SIGNATURE_MAX_AGE = 60 * 60  # seconds: a preview stays good for an hour


class CrmImportForm(forms.Form):
    """The uploaded CSV file; `cleaned_data["file"]` is its text."""

    file = forms.FileField(
        label=gettext_lazy("CSV file exported from your CRM"),
        help_text=gettext_lazy("UTF-8, separated by commas or semicolons, at most 2 MB."),
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > crm_import.MAX_BYTES:
            raise ValidationError(crm_import.too_large_message(), code="too_large")
        return crm_import.decode_csv(data=upload.read())


def sign_import(*, cluster: Cluster, user: User, text: str) -> str:
    return signing.TimestampSigner(salt=SIGNING_SALT).sign_object(
        {"cluster": cluster.pk, "user": user.pk, "text": text}, compress=True
    )


def unsign_import(*, cluster: Cluster, user: User, value: str) -> str:
    """The previewed text; BadSignature (SignatureExpired after an hour) if it was not
    previewed by this person for this cluster, or was changed since."""
    data = signing.TimestampSigner(salt=SIGNING_SALT).unsign_object(
        value, max_age=SIGNATURE_MAX_AGE
    )
    if (
        not isinstance(data, dict)
        or data.get("cluster") != cluster.pk
        or data.get("user") != user.pk
        or not isinstance(data.get("text"), str)
    ):
        raise signing.BadSignature("The import was previewed elsewhere.")
    return data["text"]


class ClusterImportView(LoginRequiredMixin, View):
    """Upload, preview and confirm an import, for the cluster's organisers and staff; 404
    for everyone else."""

    template_name = "members/cluster_import.html"

    def page(self, request, cluster, *, form=None, plan=None, signed="", errors=(), status=200):
        return render(
            request,
            self.template_name,
            {
                "cluster": cluster,
                "form": form or CrmImportForm(),
                "plan": plan,
                "signed": signed,
                "errors": [*errors, *(plan.errors if plan else [])],
                "kinds": Organisation.Kind.choices,
                "max_rows": f"{crm_import.MAX_ROWS:,}",
            },
            status=status,
        )

    def get(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        return self.page(request, cluster)

    def post(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        if request.POST.get("action") == "apply":
            return self.apply(request, cluster)
        form = CrmImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.page(request, cluster, form=form, status=400)
        text = form.cleaned_data["file"]
        plan = crm_import.crm_import_plan(cluster=cluster, text=text)
        if plan.has_errors:
            return self.page(request, cluster, plan=plan, status=400)
        signed = sign_import(cluster=cluster, user=request.user, text=text)
        return self.page(request, cluster, plan=plan, signed=signed)

    def apply(self, request, cluster):
        try:
            text = unsign_import(
                cluster=cluster, user=request.user, value=request.POST.get("signed", "")
            )
        except signing.SignatureExpired:
            error = _("This preview is more than an hour old; upload the file again.")
            return self.page(request, cluster, errors=[error], status=400)
        except signing.BadSignature:
            error = _(
                "This import is not the one previewed on this page; nothing was imported. "
                "Upload the file again."
            )
            return self.page(request, cluster, errors=[error], status=400)
        try:
            result = crm_import.crm_import_apply(cluster=cluster, text=text, by=request.user)
        except ValidationError as error:
            plan = crm_import.crm_import_plan(cluster=cluster, text=text)
            errors = [_("Nothing was imported: the site changed since the preview.")]
            if not plan.has_errors:
                errors += error.messages
            return self.page(request, cluster, plan=plan, errors=errors, status=400)
        messages.success(
            request,
            _(
                "Imported: %(organisations)d new organisations, %(memberships)d new "
                "memberships, %(domains)d domains, %(contacts)d contacts. People with an "
                "account confirmed at once: %(people)d."
            )
            % {
                "organisations": result.organisations,
                "memberships": result.memberships,
                "domains": result.domains,
                "contacts": result.contacts,
                "people": result.people_confirmed,
            },
        )
        return redirect("members:cluster_memberships", slug=cluster.slug)
