"""Form widgets Django does not ship in a fast enough form."""

from django import forms
from django.utils.html import format_html, format_html_join


class FastSelect(forms.Select):
    """A <select> with <optgroup>s, rendered in Python rather than through one template per option.

    Django renders every <option> through its own template include; the contact list's filters have some 250
    options, which cost more than the rest of the page (profiled: over half of the list's server time).
    format_html escapes every label.
    """

    def render(self, name, value, attrs=None, renderer=None):
        selected = set(self.format_value(value))
        attributes = format_html_join(
            "", ' {}="{}"', ((key, val) for key, val in self.build_attrs(self.attrs, attrs).items() if val is not None)
        )
        groups = format_html_join("", "{}", ((self._group_html(label, choices, selected),) for label, choices in self._groups()))
        multiple = " multiple" if self.allow_multiple_selected else ""
        return format_html('<select name="{}"{}{}>{}</select>', name, multiple, attributes, groups)

    def _groups(self):
        """(label, [(value, text), ...]) pairs; the label is None for an option outside any group."""
        for value, text in self.choices:
            if isinstance(text, (list, tuple)):
                yield value, list(text)
            else:
                yield None, [(value, text)]

    @staticmethod
    def _group_html(label, choices, selected):
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if str(value if value is not None else "") in selected else "", text) for value, text in choices),
        )
        return options if label is None else format_html('<optgroup label="{}">{}</optgroup>', label, options)


class FastSelectMultiple(FastSelect, forms.SelectMultiple):
    """FastSelect for several values."""
