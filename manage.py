#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings")
    from django.core.management import execute_from_command_line

    from releasemgmt import entrypoints

    # Refusals and signatures met by a command say so (a request served by
    # runserver still names its own door).
    entrypoints.set_default(entrypoints.COMMAND)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
