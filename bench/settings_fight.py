"""Project settings with the boss fight's URLconf (bench/fight_urls.py), for bench/bossfight.py."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.fight_urls"
