"""`manage.py consume` in a process of its own, for a group only a test knows.

    python -m tests.events.consumers.consume_process GROUP TOPIC_GLOB

The group runs the consumer tests' handler (``record_effects``) on ``TOPIC_GLOB``: the
settings' table of handlers cannot name a test's group, so this adds it before the command
reads the table, and lets kafka-python's coordinator log at INFO (its LeaveGroup lines).
The environment gives the database and the broker.
"""

from __future__ import annotations

import logging
import os
import sys


def main(argv: list[str]) -> None:
    group, topics = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)
    from django.conf import settings
    from django.core.management import call_command

    settings.EVENT_HANDLERS = {
        **settings.EVENT_HANDLERS,
        group: {topics: ["tests.events.consumers.conftest.record_effects"]},
    }
    call_command("consume", group=group)


if __name__ == "__main__":
    main(sys.argv[1:])
