"""Root URLconf: operational endpoints, the admin under /admin/, the legacy app at the root."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("observability.urls")),
    path("admin/", admin.site.urls),
    path("", include("monolithos.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
