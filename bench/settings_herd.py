"""Project settings for bench/herd.py: mail goes to files, so the benchmark can count every send.

The project reads EMAIL_BACKEND from the environment but not the filebased backend's directory;
this adds EMAIL_FILE_PATH (from the environment) and changes nothing else.
"""

import os

from config.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", "")
