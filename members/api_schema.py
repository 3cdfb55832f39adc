"""The OpenAPI schema of the whole API: every answer an operation can give, errors included.

Views declare their successes (and errors of their own, such as a 409); the answers DRF gives
on every operation are added here once, each a shared response with a documented body:

- 400 a parameter or field breaks the schema (field errors), or the request cannot be read;
- 401 no credentials or wrong ones (wrong ones even where anonymous callers are welcome),
  with `WWW-Authenticate: Token`;
- 403 a write signed in with a session but without its CSRF token;
- 404 an unknown id in the path, or a page number past the end;
- 415 a request body in a media type the operation does not read;
- 429 over the rate, with `Retry-After` in seconds.

Parameters and bodies say what the API really accepts: a blank query parameter is the same
as leaving it out (django-filter and DRF's pages read it so: `allowEmptyValue`), a text
parameter holds no control character (`members.middleware` refuses them: `pattern`), and a
request body has only its declared fields (`ClosedSerializer`: `additionalProperties: false`).
"""

from django.utils.translation import gettext as _
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

# `members.validators.CONTROL_CHARACTERS` as a JSON Schema pattern: none of C0 but TAB, LF, CR.
# (Lone surrogates, refused there too, cannot arrive in a URL: it is decoded as UTF-8.)
NO_CONTROL_CHARACTERS = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f]*$"


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in words for a person.")


class ClosedSerializer(serializers.Serializer):
    """A request body of only its declared fields: any other is a 400 naming it."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: [_("No such field.")] for name in unknown})
        return attrs


FIELD_ERRORS = {
    "type": "object",
    "description": "The messages for each parameter or field that is not valid, by its name.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

# code: (component name, description, headers)
ERRORS = {
    "400": (
        "BadRequest",
        "A parameter or field is not valid (messages by name), or the request could not be "
        "read, e.g. a control character in the query string (`detail`).",
        {},
    ),
    "401": (
        "Unauthorized",
        "No credentials, or wrong ones: send `Authorization: Token <key>`.",
        {"WWW-Authenticate": ("string", "The scheme to use: `Token`.")},
    ),
    "403": (
        "Forbidden",
        "Signed in with a session, but the CSRF token is missing or wrong.",
        {},
    ),
    "404": (
        "NotFound",
        "No such object, or not one you may see; or a page number past the last page.",
        {},
    ),
    "415": (
        "UnsupportedMediaType",
        "The request body is in a media type this operation does not read.",
        {},
    ),
    "429": (
        "TooManyRequests",
        "Over the rate for your token (or your address, when anonymous).",
        {"Retry-After": ("integer", "Seconds until a request will be accepted again.")},
    ),
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
            if schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
                schema["pattern"] = NO_CONTROL_CHARACTERS

        codes = ["400", "401", "429"]
        if self.method not in SAFE_METHODS:
            codes.append("403")
        if any(p["in"] == "path" for p in parameters) or any(
            p["in"] == "query" and p["name"] == "page" for p in parameters
        ):
            codes.append("404")
        if "requestBody" in operation:
            codes.append("415")
        responses = operation["responses"]
        for code in codes:
            responses.setdefault(code, self._error_response(code))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _postprocess_serializer_schema(self, schema, serializer, direction):
        # The one hook where drf-spectacular hands over a serializer with its own schema.
        schema = super()._postprocess_serializer_schema(schema, serializer, direction)
        if direction == "request" and isinstance(serializer, ClosedSerializer):
            schema["additionalProperties"] = False
        return schema

    def _error_response(self, code: str) -> dict:
        name, description, headers = ERRORS[code]
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        if code == "400":
            field_errors = ResolvedComponent(
                name="FieldErrors",
                type=ResolvedComponent.SCHEMA,
                object="FieldErrors",
                schema=FIELD_ERRORS,
            )
            self.registry.register_on_missing(field_errors)
            body = {"anyOf": [error, field_errors.ref]}
        else:
            body = error
        response = {"description": description, "content": {"application/json": {"schema": body}}}
        if headers:
            response["headers"] = {
                header: {"required": True, "description": text, "schema": {"type": type_}}
                for header, (type_, text) in headers.items()
            }
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.RESPONSE, object=name, schema=response
        )
        self.registry.register_on_missing(component)
        return component.ref
