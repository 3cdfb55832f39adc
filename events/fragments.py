"""Cached HTML of the event pages, invalidated exactly by per-event versions.

Every event has a version in the cache. Any write that can change what a page shows of an
event (the event, its sessions, stage roles, invitations, registrations, clusters, topics, a
speaker's profile) gives it a new version once its transaction commits; the names of
clusters, topics, languages and organisations, and who organises a cluster, share one more
version. A fragment's key holds
the versions of every event it shows, so a registration or an organiser's edit is visible on
the next request, and a stale fragment is never read again (it expires on its own).

A fragment's key also holds the viewer (id, staff flag, clusters they belong to and
manage), the language, time zone and query: what one viewer may see is never served to
another, and per-viewer content (their status, their forms) may sit in the fragment; the
forms' CSRF tokens are written anew into every response (events.views.with_fresh_csrf_tokens).
The fragments are stored by `members.page_cache` (`cached_html`): with a per-process
cache nothing is cached or tagged (`enabled`; the setting PAGE_CACHE forces it on or off).
The versions are set by signals (`connect`, from `events.apps`), the one place that sees
every write of these models through the ORM. `QuerySet.update()` and `bulk_create` send no
signals: code that writes these models in bulk calls `event_changed` itself.
"""

import time
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from members.page_cache import enabled

_EVENT = "events:v:{}"
_NAMES = "events:v:names"


def _new_version() -> int:
    # Unique, even after the cache lost a version: never an older fragment's version.
    return time.time_ns()


def versions(*, event_ids: Iterable[int]) -> dict[int | None, int]:
    """The current version of each event, and under None the version of the names of
    clusters, topics, languages and organisations (one cache round trip when all are known).
    Without a shared cache each call gives new versions, so no key or tag is ever reused.
    What this transaction has changed and not yet committed has a version of its own (`_Bump`).
    """
    if not enabled():
        now = _new_version()
        return dict.fromkeys(event_ids, now) | {None: now}
    keys = {_EVENT.format(pk): pk for pk in event_ids}
    found = cache.get_many([*keys, _NAMES])
    missing = {key: _new_version() for key in [*keys, _NAMES] if key not in found}
    if missing:
        for key, value in missing.items():
            cache.add(key, value, timeout=None)
        found.update(cache.get_many(list(missing)))
    found.update(_changed_in_this_transaction())
    return {pk: found[key] for key, pk in keys.items()} | {None: found[_NAMES]}


class _Bump:
    """New versions for `keys`, written to the cache once the transaction commits.

    Until then the change is visible only inside the transaction, as the rows are: while
    this waits among the connection's commit callbacks, `versions` gives those keys this
    bump's own version, which no other transaction ever sees, so nothing rendered from
    uncommitted rows is read outside it. The commit writes a newer one still (another
    transaction may have committed meanwhile). A rollback drops the callback and with it
    the change: nothing reached the cache. And a registration's seat lock is not held for
    a cache round trip.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.version = _new_version()

    def __call__(self) -> None:
        cache.set_many({key: _new_version() for key in self.keys}, timeout=None)


def _changed_in_this_transaction() -> dict[str, int]:
    """Key → version of what the open transaction changed, the latest change last."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return {}
    # Django keeps the commit callbacks of the open transaction here, in order, and drops
    # those of a savepoint or transaction rolled back.
    return {key: bump.version for _, bump, _ in connection.run_on_commit
            if isinstance(bump, _Bump) for key in bump.keys}  # fmt: skip


def _bump(keys: list[str]) -> None:
    """New versions for these keys once the transaction commits (at once outside one)."""
    if enabled():
        transaction.on_commit(_Bump(keys))


def event_changed(*, event_ids: Iterable[int]) -> None:
    """New versions for these events."""
    keys = [_EVENT.format(pk) for pk in {pk for pk in event_ids if pk}]
    if keys:
        _bump(keys)


def names_changed() -> None:
    _bump([_NAMES])


def viewer_key(*, user, clusters: Iterable[int] = (), managed: Iterable[int] = ()) -> str:
    if not user.is_authenticated:
        return "anon"
    return f"u{user.pk}:{int(user.is_staff)}:{sorted(clusters)}:{sorted(managed)}"


# --- signals -------------------------------------------------------------------------------


def _on_event_row(sender, instance, **kwargs) -> None:
    event_changed(event_ids=[instance.pk])


def _on_child_row(sender, instance, **kwargs) -> None:
    event_changed(event_ids=[instance.event_id])


def _on_event_m2m(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:
        event_changed(event_ids=[instance.pk])
    elif pk_set:  # e.g. cluster.events.add(...): the events are in pk_set
        event_changed(event_ids=pk_set)
    else:  # cluster.events.clear(): which events is unknown now, so all of them
        names_changed()


def _on_profile(sender, instance, **kwargs) -> None:
    from events.models import StageRole

    event_changed(
        event_ids=list(
            StageRole.objects.filter(profile=instance).values_list("event_id", flat=True)
        )
    )


def _on_names(sender, **kwargs) -> None:
    names_changed()


def connect() -> None:
    from events.models import Event, Invitation, Registration, Session, StageRole
    from members.models import Cluster, ClusterOrganiser, Language, Organisation, Profile, Topic

    for signal in (post_save, post_delete):
        signal.connect(_on_event_row, sender=Event, dispatch_uid=f"fragments-event-{signal}")
        for model in (Session, StageRole, Invitation, Registration):
            signal.connect(_on_child_row, sender=model, dispatch_uid=f"fragments-{model}-{signal}")
        signal.connect(_on_profile, sender=Profile, dispatch_uid=f"fragments-profile-{signal}")
        for model in (Cluster, ClusterOrganiser, Topic, Language, Organisation):
            signal.connect(_on_names, sender=model, dispatch_uid=f"fragments-{model}-{signal}")
    for through in (Event.clusters.through, Event.topics.through):
        m2m_changed.connect(_on_event_m2m, sender=through, dispatch_uid=f"fragments-{through}")
