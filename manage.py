#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.env import InvalidConfiguration

    try:
        execute_from_command_line(sys.argv)
    except InvalidConfiguration as error:
        # The message already names every faulty variable; a traceback would only bury it.
        sys.stderr.write(f"{error}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
