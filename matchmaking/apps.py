from django.apps import AppConfig


class MatchmakingConfig(AppConfig):
    name = "matchmaking"
    verbose_name = "Matchmaking"

    def ready(self) -> None:
        from matchmaking import personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("mentoring", personal_data.export)
        register_eraser("mentoring", personal_data.erase)
