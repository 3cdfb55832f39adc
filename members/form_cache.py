"""The cache of each person's rendered profile form (members.forms.profile_form_html).

A person has at most one cached form at a time, and the index of it under their id: a new
one replaces the old (an edit, another language), and erasing the account deletes it, so
their profile text does not stay in the cache after an erasure.
"""

from django.core.cache import cache

TIMEOUT = 60 * 60  # seconds


def _index(user_id: int) -> str:
    return f"members:profile-form:{user_id}:current"


def get(*, key: str) -> str | None:
    return cache.get(key)


def put(*, user_id: int, key: str, html: str) -> None:
    previous = cache.get(_index(user_id))
    if previous and previous != key:
        cache.delete(previous)
    cache.set_many({key: html, _index(user_id): key}, TIMEOUT)


def forget(*, user_id: int) -> None:
    index = _index(user_id)
    cache.delete_many([key for key in [cache.get(index), index] if key])
