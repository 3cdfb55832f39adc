"""Settings that would publish gender figures without the stated protection."""

from django.conf import settings
from django.core import checks


@checks.register()
def release_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    if settings.PRIVACY_NOISE_SIGMA < 1:
        problems.append(
            checks.Warning(
                f"PRIVACY_NOISE_SIGMA is {settings.PRIVACY_NOISE_SIGMA}: gender figures are "
                "released with little or no noise, so they can single people out.",
                hint="Keep the default 3.3 (the guarantee in the README) or more.",
                id="insights.W001",
            )
        )
    if settings.PRIVACY_RELEASE_AFTER_HOURS < 0:
        problems.append(
            checks.Warning(
                "PRIVACY_RELEASE_AFTER_HOURS is negative: events are released before they "
                "end, while registrations and attendance still change.",
                id="insights.W002",
            )
        )
    return problems
