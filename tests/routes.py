"""Every URL pattern of the site, found by walking the URL resolver, and concrete paths
for them.

Tests that must cover every page (ours, allauth's, the admin's and the API's) start from
`all_routes()` and fill each route's parameters themselves: a page is covered the day it
is added, and a parameter a test cannot fill makes that test fail.
"""

import re

from django.urls import URLPattern, URLResolver, get_resolver


def join_route(first: str, second: str) -> str:
    """The way Django's resolver joins routes (ResolverMatch.route)."""
    return first + second.removeprefix("^") if first else second


def all_routes() -> list[str]:
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = join_route(prefix, str(entry.pattern))
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            else:
                assert isinstance(entry, URLPattern)
                routes.append(route)

    walk(get_resolver().url_patterns, "")
    return routes


def route_names() -> dict[str, str | None]:
    """Every route with its pattern's full name ("events:detail"), None when unnamed."""
    names: dict[str, str | None] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = join_route(prefix, str(entry.pattern))
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, inner)
            else:
                names[route] = f"{namespace}{entry.name}" if entry.name else None

    walk(get_resolver().url_patterns, "", "")
    assert list(names) == all_routes(), "two patterns with the same route"
    return names


PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def parameters(route: str) -> tuple[str, ...]:
    return tuple(a or b for a, b in PARAMETER.findall(route))


def substitute(route: str, values: dict[str, str]) -> str:
    """A concrete path for a route, path converters and regex groups alike."""
    path, i = "", 0
    while i < len(route):
        converter = re.match(r"<(?:\w+:)?(\w+)>", route[i:])
        group = re.match(r"\(\?P<(\w+)>", route[i:])
        if converter:
            path += values[converter.group(1)]
            i += converter.end()
        elif group:
            depth, j = 1, i + group.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(route[j], 0)
                j += 1
            path += values[group.group(1)]
            i = j
        else:
            path += route[i]
            i += 1
    return "/" + path.removeprefix("^").removesuffix("$")


def body(response) -> str:
    """A response's headers and content as text, for looking for what must not be there."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return headers + "\n" + content.decode("utf-8", errors="replace")
