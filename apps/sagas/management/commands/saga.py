"""`manage.py saga`: operators list, inspect, resume, retry and abort sagas of a tenant.

Every action goes through `apps.sagas.services`, as the admin's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.sagas import services
from apps.sagas.contracts import InvalidTransition, SagaError, SagaNotFound, SagaState, SagaView
from apps.sagas.management.saga_text import LIST_HEADER, detail_lines, list_line
from apps.tenancy.services import tenant_exists, tenant_schemas
from dictamesh.tenancy import tenant_context

#: what each operator action does, as `--help` and the success message say it
ACTIONS: dict[str, tuple[Callable[[str], SagaView], str]] = {
    "resume": (services.resume_saga,
               "continue a NEEDS_ATTENTION or stuck saga where it stopped (forward, or on "
               "with its compensations)"),
    "retry": (services.retry_step,
              "run the saga's current step again now, with a fresh attempt budget"),
    "abort": (services.abort_saga,
              "stop an unfinished saga: compensate its completed steps in reverse order"),
}
LIST_MAX = 500


def _first(value: str) -> int:
    number = int(value)
    if not 1 <= number <= LIST_MAX:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = ("Operate a tenant's sagas: `saga list [--state S] [--definition D]`, "
            "`saga show <id>`, `saga resume|retry|abort <id>`, each with --tenant SLUG.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="sagas of the tenant, newest first")
        listing.add_argument("--state", choices=[s.value for s in SagaState])
        listing.add_argument("--definition", metavar="NAME", help='e.g. "create_invoice"')
        listing.add_argument("--first", type=_first, default=50, metavar="N",
                             help=f"how many to show (1..{LIST_MAX}, default 50)")
        listing.add_argument("--after", metavar="CURSOR",
                             help="the cursor the previous page printed")
        show = actions.add_parser("show", help="one saga with its step timeline")
        show.add_argument("saga_id", metavar="ID")
        for name, (_, description) in ACTIONS.items():
            action = actions.add_parser(name, help=description)
            action.add_argument("saga_id", metavar="ID")
        for sub in (listing, show, *(actions.choices[name] for name in ACTIONS)):
            sub.add_argument("--tenant", metavar="SLUG",
                             help="the tenant whose sagas to operate (required)")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = _tenant(options.get("tenant"))
        action: str = options["action"]
        with tenant_context(slug):
            try:
                if action == "list":
                    self._list(options)
                elif action == "show":
                    self._show(options["saga_id"])
                else:
                    self._act(action, options["saga_id"], slug)
            except SagaNotFound as exc:
                raise CommandError(
                    f"No saga {options['saga_id']!r} in tenant {slug!r} ({exc}). "
                    f"`manage.py saga list --tenant {slug}` shows its sagas.") from exc
            except SagaError as exc:
                raise CommandError(str(exc)) from exc

    def _list(self, options: dict[str, Any]) -> None:
        state = SagaState(options["state"]) if options["state"] else None
        page = services.list_sagas(state=state, definition=options["definition"],
                                   first=options["first"], after=options["after"])
        if not page.sagas:
            self.stdout.write("No sagas match.")
            return
        self.stdout.write(LIST_HEADER)
        for saga in page.sagas:
            self.stdout.write(list_line(saga))
        if page.next_cursor is not None:
            self.stdout.write(f"More: add --after {page.next_cursor}")

    def _show(self, saga_id: str) -> None:
        for line in detail_lines(services.get_saga(saga_id, with_timeline=True)):
            self.stdout.write(line)

    def _act(self, action: str, saga_id: str, slug: str) -> None:
        operate, _ = ACTIONS[action]
        try:
            saga = operate(saga_id)
        except InvalidTransition as exc:
            raise CommandError(f"Cannot {action} saga {saga_id}: {exc} "
                               f"(`manage.py saga show {saga_id} --tenant {slug}` shows "
                               "where it stands).") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Saga {saga.id}: {action} accepted; it is now {saga.state.value}"
            f"{f' at step {saga.current_step}' if saga.current_step else ''}."))


def _tenant(slug: str | None) -> str:
    if not slug:
        known = ", ".join(tenant_schemas()) or "none yet"
        raise CommandError(f"Name the tenant with --tenant SLUG (tenants: {known}).")
    if not tenant_exists(slug):
        raise CommandError(f"No tenant {slug!r}; tenants: "
                           f"{', '.join(tenant_schemas()) or 'none yet'}.")
    return slug
