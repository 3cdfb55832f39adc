from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchmakingConfig(AppConfig):
    name = "matchmaking"
    verbose_name = _("Matchmaking")

    def ready(self) -> None:
        from matchmaking import personal_data
        from matchmaking.brokerage import personal_data as brokerage_personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("mentoring", personal_data.export)
        register_eraser("mentoring", personal_data.erase)
        register_exporter("brokerage", brokerage_personal_data.export)
        register_eraser("brokerage", brokerage_personal_data.erase)
