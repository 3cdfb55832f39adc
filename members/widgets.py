"""Form widgets for the site's long option lists."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class LongSelect(forms.Select):
    """A `<select>` with hundreds of options (time zones, countries), rendered in Python.

    Django renders each option through a template of its own, which made the profile form
    take most of a page's time; this writes the same markup (attributes, selected option,
    optgroups) in one pass.
    """

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        groups = []
        for group_name, options, _index in widget["optgroups"]:
            html = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (option["value"], " selected" if option["selected"] else "", option["label"])
                    for option in options
                ),
            )
            groups.append(
                format_html('<optgroup label="{}">{}</optgroup>', group_name, html)
                if group_name
                else html
            )
        attrs = dict(widget["attrs"], name=widget["name"])
        options = format_html_join("", "{}", ((group,) for group in groups))
        return format_html("<select{}>{}</select>", flatatt(attrs), options)
