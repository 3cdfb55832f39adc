"""The member directory's version: it changes with every committed write to what the
directory shows (profiles, their topics, sectors and languages, organisations, the topic,
sector and language lists) or to whom it shows it (accounts' active and staff flags,
affiliations, cluster memberships, clusters and their organisers). Kept by database
triggers (members.table_versions): the directory page is cached under it
(`members.views.DirectoryView`), and a stale page could show a profile its owner has just
hidden.
"""

from django.apps import apps

from members.table_versions import TableVersion


def _watched() -> list[str]:
    """The tables whose every write changes the directory (the account table apart)."""
    profile = apps.get_model("members", "Profile")
    organisation = apps.get_model("members", "Organisation")
    lists = ("languages", "sectors", "expertise", "interests")
    models = [
        profile,
        *(getattr(profile, name).through for name in lists),
        organisation,
        organisation.sectors.through,
        *(apps.get_model("members", name) for name in (
            "ClusterMembership", "Affiliation", "ClusterOrganiser", "Cluster",
            "Topic", "Sector", "Language",
        )),
    ]  # fmt: skip
    return [model._meta.db_table for model in models]


DIRECTORY = TableVersion(
    name="members_directory",
    changes_table="members_directorychange",
    watched=_watched,
    # An account's own columns the directory depends on (whom it shows, and to whom).
    user_columns=("is_active", "is_staff"),
)
installed, install, drop = DIRECTORY.installed, DIRECTORY.install, DIRECTORY.drop
current, fold = DIRECTORY.current, DIRECTORY.fold
