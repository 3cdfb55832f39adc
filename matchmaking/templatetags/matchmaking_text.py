"""Stored explanations worded in the reader's language: `{{ reason|explained }}`,
`{{ match.end_reason|end_reason }}` (see `matchmaking.explanations`)."""

from django import template

from matchmaking import explanations

register = template.Library()


@register.filter
def explained(value) -> str:
    """A reason, rule or unplaced mentee's explanation, in the active language."""
    return explanations.render(value)


@register.filter
def end_reason(value: str) -> str:
    """Why a match ended: the services' reasons translated, a person's words as typed."""
    return explanations.end_reason(value or "")
