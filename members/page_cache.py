"""Rendered HTML in the shared cache, for the pages that are cached (the event pages,
`events.fragments`; the member directory, `members.views.DirectoryView`).

Each caller puts into the key a version that changes with everything the HTML shows, so
an entry is never read once it is stale (it expires on its own), and the viewer whenever
what they may see differs from what others may. Here the language and time zone are added.

The versions must be seen by every process that writes or serves these pages (web
processes, Celery workers, management commands): with a per-process cache (LocMem, the
default without CACHE_URL) one process would serve what another has changed, so nothing
is cached then (`enabled`). Setting PAGE_CACHE forces it on or off.
"""

import hashlib
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

TIMEOUT = 60 * 60  # seconds; a stale entry is never read, this only frees memory


def enabled() -> bool:
    """Whether pages may be cached: the setting, or else whether the cache is one all
    processes share (not a per-process or dummy one)."""
    forced = getattr(settings, "PAGE_CACHE", None)
    if forced is not None:
        return forced
    return not isinstance(caches["default"], (LocMemCache, DummyCache))


def cached_html(*, name: str, parts: Iterable, render: Callable[[], str]) -> SafeString:
    """The HTML for these key parts, rendered (and stored) when missing."""
    if not enabled():
        return mark_safe(str(render()))  # noqa: S308 (as below)
    parts = [*parts, translation.get_language(), timezone.get_current_timezone_name()]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    key = f"page:{name}:{digest}"
    html = cache.get(key)
    if html is None:
        html = str(render())
        cache.set(key, html, timeout=TIMEOUT)
    # A template's output, escaped when it was rendered; only this module writes these keys.
    return mark_safe(html)  # noqa: S308
