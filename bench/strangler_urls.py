"""The root URLconf with no facade: each strangled route mounted on its legacy view directly.

Everything else is ``config.urls`` as it is, so the only difference bench/strangler.py measures
is the facade itself (URL resolution walks the same patterns).
"""

from django.urls import URLPattern, URLResolver, include, path

from config import urls as root
from monolithos import urls as legacy_urls
from strangler.facade import StrangledView


def _direct(pattern: URLPattern | URLResolver) -> URLPattern:
    assert isinstance(pattern, URLPattern) and isinstance(pattern.callback, StrangledView)
    return path(str(pattern.pattern), pattern.callback.legacy, name=pattern.name)


_legacy_app = ([*map(_direct, root.strangled), *legacy_urls.urlpatterns], legacy_urls.app_name)

urlpatterns: list[URLPattern | URLResolver] = [
    *(
        pattern
        for pattern in root.urlpatterns
        if getattr(pattern, "namespace", None) != legacy_urls.app_name
    ),
    path("", include(_legacy_app)),
]
