from django import template

from events.markdown import markdown_to_html

register = template.Library()


@register.filter(name="markdown")
def markdown(value: str):
    """`{{ event.description|markdown }}`: safe HTML from Markdown."""
    return markdown_to_html(value or "")
