"""The organisers' import of member organisations from their CRM: upload a CSV file, see
what it would change, confirm. The preview and the import run in the background
(`members.imports`); what is imported is exactly the file previewed, kept in the preview's
job, and `members/crm_import.py` checks it all again before writing."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views import View

from members import crm_import, imports, selectors
from members.models import ImportJob, Organisation


class CrmImportForm(forms.Form):
    """The uploaded CSV file; `cleaned_data["file"]` is its text."""

    file = forms.FileField(
        label=gettext_lazy("CSV file exported from your CRM"),
        help_text=gettext_lazy("UTF-8, separated by commas or semicolons."),
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> str:
        return crm_import.decode_csv(data=imports.upload_read(upload=self.cleaned_data["file"]))


class ClusterImportView(LoginRequiredMixin, View):
    """Upload a file to preview, for the cluster's organisers and staff; 404 for everyone
    else."""

    template_name = "members/cluster_import.html"

    def page(self, request, cluster, *, form=None, status=200):
        return render(
            request,
            self.template_name,
            {
                "cluster": cluster,
                "form": form or CrmImportForm(),
                "jobs": crm_import.crm_import_jobs_recent(user=request.user, cluster=cluster),
                "kinds": Organisation.Kind.choices,
                "max_rows": f"{settings.IMPORT_MAX_ROWS:,}",
                "max_size": imports.max_size_text(),
            },
            status=status,
        )

    def get(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        return self.page(request, cluster)

    def post(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        form = CrmImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.page(request, cluster, form=form, status=400)
        job = crm_import.crm_import_preview_queue(
            cluster=cluster,
            by=request.user,
            file_name=request.FILES["file"].name,
            text=form.cleaned_data["file"],
        )
        return redirect("members:cluster_import_job", slug=cluster.slug, job_id=job.pk)


class ClusterImportJobView(LoginRequiredMixin, View):
    """A preview or an import: its progress, then the plan (with the button to import it)
    or the result. Only for whoever started it (and staff) while they manage the cluster;
    the page reloads itself while the job runs."""

    template_name = "members/cluster_import_job.html"

    def get(self, request, slug: str, job_id: int):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        job = crm_import.crm_import_job_get(user=request.user, cluster=cluster, job_id=job_id)
        return render(
            request,
            self.template_name,
            {
                "cluster": cluster,
                "job": job,
                "is_preview": job.kind == ImportJob.Kind.CRM_PREVIEW,
                "follow_up": getattr(job, "follow_up", None),
            },
        )

    def post(self, request, slug: str, job_id: int):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        job = crm_import.crm_import_job_get(user=request.user, cluster=cluster, job_id=job_id)
        try:
            if request.POST.get("action") == "apply":
                job = crm_import.crm_import_apply_queue(
                    preview=job, cluster=cluster, by=request.user
                )
            elif request.POST.get("action") == "retry":
                crm_import.crm_import_retry(job=job, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("members:cluster_import_job", slug=cluster.slug, job_id=job.pk)
