"""Project settings plus the bare floor endpoint (bench/floor), for bench/herd.py only."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.floor.apps.FloorConfig"]
ROOT_URLCONF = "bench.floor.urls"
