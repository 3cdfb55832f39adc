import importlib
import logging
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Build the demo network: 3 clusters, ~60 organisations, ~300 members and fixed "
        "logins sharing one published password, then each app's own demo data (events, "
        "matchmaking). Safe to run again: it changes nothing then."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even though DEBUG is off (the demo superuser's password is public).",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this may be a real site: the demo data includes a superuser "
                "whose password is published. Pass --force if this really is a demo."
            )
        # Demo registrations send their mail in-process; one log line per message is noise.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        logins = demo_seed(stdout_write=self.stdout.write)

        changes = sum(logins.created.values()) + sum(logins.updated.values())
        summary = ", ".join(f"{count} {name}" for name, count in logins.totals.items())
        if changes:
            detail = "; ".join(
                [f"created {n} {name}" for name, n in logins.created.items()]
                + [f"updated {n} {name}" for name, n in logins.updated.items()]
            )
            self.stdout.write(self.style.SUCCESS(f"Demo network ready ({summary}): {detail}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Demo network already up to date ({summary})."))
        for name in self._demo_modules():
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as error:
                if error.name != name:
                    raise  # the demo module exists but something it imports does not
                continue
            result = module.demo_seed(stdout_write=self.stdout.write)
            self.stdout.write(self.style.SUCCESS(str(result)))

        width = max(
            len(login.email) for login in (logins.staff, *logins.organisers, *logins.members)
        )
        lines = [
            "",
            f"  Open       {logins.url}",
            f"  Password   {logins.password}   (the same for every demo account)",
            "",
            f"  Staff      {logins.staff.email:<{width}}  {logins.staff.description}",
        ]
        for label, group in (("Organisers", logins.organisers), ("Members", logins.members)):
            for i, login in enumerate(group):
                lines.append(
                    f"  {label if i == 0 else '':<10} {login.email:<{width}}  {login.description}"
                )
        lines += ["", f"  Mail       {self._mail_destination()}", ""]
        self.stdout.write("\n".join(lines))

    def _project_apps(self) -> list[str]:
        """The project's own apps after `members`, in INSTALLED_APPS order (events, ...).

        Members never imports them; an app that has a `demo` module builds on the network.
        """
        base = Path(settings.BASE_DIR).resolve()
        names = [
            config.name
            for config in apps.get_app_configs()
            if Path(config.path).resolve().is_relative_to(base) and config.name != "members"
        ]
        return sorted(names, key=settings.INSTALLED_APPS.index)

    def _demo_modules(self) -> list[str]:
        """Each app's `demo` module, then those of its sub-packages (`matchmaking.brokerage`
        after `matchmaking`), so a part of an app builds on the app's own demo data."""
        paths = {config.name: Path(config.path) for config in apps.get_app_configs()}
        names = []
        for app in self._project_apps():
            names.append(f"{app}.demo")
            names += [
                f"{app}.{demo.parent.name}.demo" for demo in sorted(paths[app].glob("*/demo.py"))
            ]
        return names

    def _mail_destination(self) -> str:
        if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
            return (
                f"nothing is sent; each message is written as a file to {settings.EMAIL_FILE_PATH}/"
            )
        if settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
            return "nothing is sent; messages are printed by the server process"
        return f"sent through {settings.EMAIL_BACKEND}"
