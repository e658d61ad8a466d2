"""The form renderer of the release page (the helpers every app's pages
share are ``releasemgmt.ui``)."""
from __future__ import annotations

from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist


# --- form rendering -----------------------------------------------------------------------------------


class PageFormRenderer(Jinja2):
    """Django's Jinja2 form renderer, for the release page's forms. The page
    draws ten forms and a hundred select options; through the template
    language's widget templates (an include per option, another per attribute
    list) they were a fifth of its CPU, and Django's own Jinja2 versions of
    the same templates, compiled to Python, cost a fraction of that. A widget
    template only the template language has (the admin's, a custom one) still
    renders through it. tests/ui/test_views.py compares the page both ways."""

    def get_template(self, template_name):
        try:
            return super().get_template(template_name)
        except TemplateDoesNotExist:
            return _TEMPLATE_LANGUAGE.get_template(template_name)


_TEMPLATE_LANGUAGE = DjangoTemplates()
PAGE_FORM_RENDERER = PageFormRenderer()


def with_page_renderer(*forms):
    """Have these forms drawn by ``PAGE_FORM_RENDERER``; returns them."""
    for form in forms:
        if form is not None:
            form.renderer = PAGE_FORM_RENDERER
    return forms
