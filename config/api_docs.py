"""The renderer of /api/docs/: DRF's browsable API, with the page's language declared.

DRF's rest_framework/base.html writes a bare `<html>` outside any template block, so screen
readers (and axe-core's html-has-lang rule, tests/browser) would not know the language of
a page that LocaleMiddleware rendered in German or Romanian.
"""

from django.utils.translation import get_language
from rest_framework.renderers import BrowsableAPIRenderer


class DocsRenderer(BrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        html = super().render(data, accepted_media_type, renderer_context)
        language = get_language() or "en"
        return html.replace("<html>", f'<html lang="{language}">', 1)
