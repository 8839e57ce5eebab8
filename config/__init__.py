"""Project wiring: settings, URLs, WSGI/ASGI entry points. Holds no business logic."""
