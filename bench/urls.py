"""The project's URLs plus `/__bench_minimal__`, the baseline a page is compared with."""

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def minimal_view(request):
    """The least a Django view can do: the full middleware stack, then a fixed answer."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("__bench_minimal__", minimal_view), *project_urlpatterns]
