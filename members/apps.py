from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        # Third-party admins (allauth's addresses, DRF's tokens, auth's groups) get the
        # guard of our own: `django.contrib.admin`, first in INSTALLED_APPS, has registered
        # every admin by now. `members.admin.gender_admin_check` fails if one slipped by.
        from django.contrib import admin

        from members.admin import admin_site_guard_gender

        admin_site_guard_gender(site=admin.site)

        from members import receivers  # noqa: F401  (connects allauth's signals)
        from members.contact import erase_contact, export_contact
        from members.personal_data import register_eraser, register_exporter

        register_exporter("contact", export_contact)
        register_eraser("contact", erase_contact)
        pre_migrate.connect(_drop_directory_triggers, sender=self)
        post_migrate.connect(_install_directory_triggers, sender=self)


def _drop_directory_triggers(using: str, plan: list, **kwargs) -> None:
    """Before migrations run: no trigger may stand in the way of a change to the tables
    it watches (as events.tally's)."""
    if plan:
        from members import directory_version

        directory_version.drop(connections[using])


def _install_directory_triggers(using: str, **kwargs) -> None:
    from members import directory_version

    if not directory_version.installed(connections[using]):
        directory_version.install(connections[using])
