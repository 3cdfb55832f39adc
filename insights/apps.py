from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    """Gender-balance figures of events and mentoring programmes: what is counted, the
    releases every figure is computed from, charts, pages and reports. Above events and
    matchmaking; `members.privacy` stays the only code that reads gender."""

    name = "insights"
    verbose_name = _("Insights")

    def ready(self) -> None:
        from insights import checks  # noqa: F401 -- registers the settings check
