import json
import zoneinfo

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from members.languages import supported
from members.validators import CONTROL_CHARACTERS, has_control_characters


class ViewerTimezoneMiddleware:
    """Show times in the signed-in member's own zone (times are stored in UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = getattr(getattr(user, "profile", None), "timezone", "")
            try:
                zone = zoneinfo.ZoneInfo(name) if name else None
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


class ViewerLanguageMiddleware:
    """Pages in the signed-in member's own language when their profile names one.

    Runs after LocaleMiddleware, which has already chosen from the language cookie (the
    switcher) or the browser's Accept-Language; LocaleMiddleware's response step then sends
    the chosen language as Content-Language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            profile = getattr(user, "profile", None)
            language = supported(getattr(profile, "preferred_language", ""))
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


class ControlCharacterMiddleware:
    """Answer 400 to a request whose URL, parameters or form fields hold control characters.

    One gate for every view, before anything reads the input: a NUL cannot be stored in
    PostgreSQL, and no form, search or API field here needs a control character other than
    TAB, LF and CR (see `members.validators`). Uploaded files' contents are not looked at;
    their names are. JSON bodies are parsed here once more to look at every string in them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # This runs before LocaleMiddleware: a refusal is worded in the language the
        # visitor's language cookie or browser asks for, not the thread's last one.
        language = translation.get_language_from_request(request)
        with translation.override(language):
            message = _refusal(request)
            if message is not None:
                response = _refused(request, message)
                response["Content-Language"] = language
                patch_vary_headers(response, ("Accept-Language", "Cookie"))
                return response
        return self.get_response(request)


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    html = render_to_string("members/bad_input.html", {"message": message}, request)
    return HttpResponse(html, status=400)


def _refusal(request: HttpRequest) -> str | None:
    """Why the request is refused, for the person who sent it; None when it is not."""
    try:
        where = _where_control_characters_are(request)
    except RecursionError:  # json.loads of a body nested thousands deep
        return _("The JSON body is nested too deeply.")
    if where is None:
        return None
    return _(
        "%(where)s holds an invisible control character (such as a NUL byte), which "
        "this site does not accept. Remove it and try again."
    ) % {"where": where}


def _where_control_characters_are(request: HttpRequest) -> str | None:
    """Where in the request a control character is, in words; None when it holds none."""
    # The path needs no whitespace control character either.
    if CONTROL_CHARACTERS.search(request.path_info) or any(
        c in request.path_info for c in "\t\n\r"
    ):
        return _("The address")
    for name, values in request.GET.lists():
        if has_control_characters(name) or any(map(has_control_characters, values)):
            return _("The parameter “%(name)s” of the address") % {"name": _printable(name)}
    # Only POST carries form fields Django parses (other methods get an empty QueryDict).
    for name, values in request.POST.lists():
        if has_control_characters(name) or any(map(has_control_characters, values)):
            return _("The form field “%(name)s”") % {"name": _printable(name)}
    for name, files in request.FILES.lists():
        if has_control_characters(name) or any(has_control_characters(f.name) for f in files):
            return _("The name of the file sent as “%(name)s”") % {"name": _printable(name)}
    if request.content_type == "application/json" or request.content_type.endswith("+json"):
        return _where_in_json(request)
    return None


def _where_in_json(request: HttpRequest) -> str | None:
    try:
        data = json.loads(request.body)
    except ValueError:
        return None  # not JSON: the view's parser says so
    stack = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if has_control_characters(value):
                return _("The JSON field “%(name)s”") % {"name": path[:60] or _("the body")}
        elif isinstance(value, dict):
            for key, item in value.items():
                if has_control_characters(key):
                    return _("A JSON field name")
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return None


def _printable(name: str) -> str:
    """`name` fit to be shown in a message: its control characters as a visible sign."""
    return CONTROL_CHARACTERS.sub("\ufffd", name)[:60]
