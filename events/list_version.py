"""The version of which events the events API lists (`events.api.EventListAPI`): it changes
with every committed write to events, their clusters and topics, invitations, and the
cluster, topic and language rows the list's filters name by slug or code. Kept by database
triggers (members.table_versions).

What else decides one person's list is in the list's cache key, read on each request:
their clusters and the clusters they organise (`selectors.viewer_scope`), their e-mail
address (invitations), and the invitation-only events they hold a registration for — a
registration is not a change here, so registering never waits on, or invalidates, the
list of everyone else.
"""

from django.apps import apps

from members.table_versions import TableVersion


def _watched() -> list[str]:
    event = apps.get_model("events", "Event")
    models = [
        event,
        event.clusters.through,
        event.topics.through,
        apps.get_model("events", "Invitation"),
        *(apps.get_model("members", name) for name in ("Cluster", "Topic", "Language")),
    ]
    return [model._meta.db_table for model in models]


EVENT_LIST = TableVersion(
    name="events_list", changes_table="events_eventlistchange", watched=_watched
)
installed, install, drop = EVENT_LIST.installed, EVENT_LIST.install, EVENT_LIST.drop
current, fold = EVENT_LIST.current, EVENT_LIST.fold
