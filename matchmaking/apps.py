from django.apps import AppConfig


class MatchmakingConfig(AppConfig):
    name = "matchmaking"
    verbose_name = "Matchmaking"

    def ready(self) -> None:
        from events.balance import register_pipeline_stage
        from matchmaking import balance, personal_data
        from members.personal_data import register_eraser, register_exporter

        register_exporter("mentoring", personal_data.export)
        register_eraser("mentoring", personal_data.erase)
        register_pipeline_stage("mentees", "Mentees", balance.mentees_in_period)
        register_pipeline_stage("mentors", "Mentors", balance.mentors_in_period)
