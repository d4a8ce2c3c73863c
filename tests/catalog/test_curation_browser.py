"""A curator's round in a real browser: Playwright driving Debian's Chromium (never a
downloaded browser) over the tenant admin served by a live server.

Signed in as a tenant curator, the browser finds a customer by email, narrows the graph to
one hop, expands an invoice to reach the customer's products, opens a product from the
graph, adds an edge (with autocomplete) and retires it, each with a reason, and finds both
in the product's lineage and curator changes. No page may log a console error or get an
HTTP error. Screenshots land in ``artifacts/screenshots/`` (CI keeps that directory).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import ConsoleMessage, Error, Page, Request, Response, sync_playwright

from apps.catalog import services
from apps.catalog.contracts import EntityKey, EntityRegistration, Relationship
from apps.catalog.models import EntityRelationship
from apps.tenancy.models import Domain
from apps.tenancy.services import AuditFilter, add_member, audit_entries

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # tenant hosts are <slug>.localhost: on the live server's loopback address
                 "--host-resolver-rules=MAP *.localhost 127.0.0.1"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CURATOR, PASSWORD = "cora", "cora-curates-1"
WAIT_MS = 60_000  # generous: CI runs with both cores busy

CUSTOMER = EntityKey("customer", "7")
INVOICES = [EntityKey("invoice", "INV-1001"), EntityKey("invoice", "INV-1002")]
PRODUCTS = [EntityKey("product", "SKU-00001"), EntityKey("product", "SKU-00002"),
            EntityKey("product", "SKU-00003")]
SUPPLIER = EntityKey("supplier", "SUP-9")


def _catalog_of_a_shop() -> None:
    """The shape the e-commerce adapter gives invoices: line items (never entities of
    their own) between an invoice and its products."""
    services.register_entities([
        EntityRegistration("customer", "7", "directus", 1_764_000_000_000,
                           {"email": "grace@example.com", "name": "Grace Hopper"}),
        EntityRegistration("invoice", "INV-1001", "ecommerce", 1_764_000_100_000,
                           {"invoice_number": "2026-1001", "customer_id": "7"}),
        EntityRegistration("invoice", "INV-1002", "ecommerce", 1_764_000_200_000,
                           {"invoice_number": "2026-1002", "customer_id": "7"}),
        *[EntityRegistration("product", p.entity_id, "products", 1_764_000_000_000,
                             {"name": f"Widget {p.entity_id[-1]}", "sku": p.entity_id})
          for p in PRODUCTS],
        EntityRegistration("supplier", "SUP-9", "suppliers", 3,
                           {"name": "Acme Supply 9"}),
    ])
    lines = [(INVOICES[0], PRODUCTS[0]), (INVOICES[0], PRODUCTS[1]), (INVOICES[1], PRODUCTS[2])]
    edges = [Relationship(invoice, "billed_to", CUSTOMER) for invoice in INVOICES]
    for number, (invoice, product) in enumerate(lines, start=1):
        item = EntityKey("invoice_item", f"{invoice.entity_id}/{number}")
        edges += [Relationship(invoice, "has_item", item),
                  Relationship(item, "references", product)]
    services.record_relationships(edges)


@pytest.fixture
def curated_tenant(tenants_committed, live_server, settings) -> tuple[str, str]:
    tenant = tenants_committed[0]
    host = f"{tenant.schema_name.replace('_', '-')}.localhost"
    Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant, "is_primary": False})
    add_member(tenant.schema_name, CURATOR, "curator", password=PASSWORD)
    with schema_context(tenant.schema_name):
        _catalog_of_a_shop()
    port = live_server.url.rsplit(":", 1)[1]
    return tenant.schema_name, f"http://{host}:{port}"


class Watch:
    """Console errors, uncaught exceptions and HTTP errors, from every page of a context."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def page(self, page: Page) -> None:
        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.problems.append(f"console: {message.text} ({page.url})")

        def response(answer: Response) -> None:
            if answer.status >= 400:
                self.problems.append(f"HTTP {answer.status}: {answer.url}")

        def failed(request: Request) -> None:
            self.problems.append(f"failed: {request.url} {request.failure}")

        def script_error(error: Error) -> None:
            self.problems.append(f"script: {error} ({page.url})")

        page.on("console", console)
        page.on("pageerror", script_error)
        page.on("response", response)
        page.on("requestfailed", failed)


def _loaded(page: Page) -> None:
    """Wait for the page an action led to to finish loading (Playwright's pattern: click,
    then wait for the load state). Leaving a page while it still loads its scripts makes
    the browser abort them (net::ERR_ABORTED), which the watch reports as failed requests:
    a busy machine's timing, not the admin's fault."""
    page.wait_for_load_state("load")


def _explorer_ready(page: Page) -> None:
    page.wait_for_function(
        "() => document.getElementById('explorer-canvas')?.dataset.state === 'ready'",
        timeout=WAIT_MS)


def _click_node(page: Page, node_id: str) -> None:
    """A real mouse click at the node's place on the canvas."""
    page.locator("#explorer-canvas").scroll_into_view_if_needed()
    # Cytoscape caches where its canvas is on the page and learns of a scroll from the
    # scroll event, a frame later: resize() makes it measure again before the click.
    point: dict[str, Any] = page.evaluate("""(id) => new Promise((resolve) => {
        const cy = window.dictameshExplorer, node = cy.getElementById(id);
        cy.resize();
        cy.center(node);
        requestAnimationFrame(() => requestAnimationFrame(() => {
            const at = node.renderedPosition();
            const box = cy.container().getBoundingClientRect();
            resolve({x: box.left + at.x, y: box.top + at.y});
        }));
    })""", node_id)
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function("(id) => document.getElementById('explorer-panel-key')"
                           ".textContent === id", arg=node_id, timeout=WAIT_MS)


def _nodes(page: Page) -> set[str]:
    return set(page.evaluate("() => window.dictameshExplorer.nodes().map(n => n.id())"))


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"curation-{name}.png"), full_page=True)


def test_a_curator_explores_the_graph_and_fixes_an_edge(curated_tenant):
    slug, base = curated_tenant
    watch = Watch()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(WAIT_MS)
        context.on("page", watch.page)
        page = context.new_page()
        try:
            _curators_round(page, slug, base)
        except Exception:
            _shoot(page, "failed")  # what the browser showed when the round stopped
            raise
        finally:
            browser.close()

    assert watch.problems == []
    with schema_context(slug):
        edge = EntityRelationship.objects.get(relationship_type="supplied_by")
    assert (edge.origin, edge.created_by, edge.retired_by) == ("manual", CURATOR, CURATOR)
    entries = audit_entries(AuditFilter(tenant=slug, action="relationship."))
    assert [(e.action, e.actor, e.detail["reason"]) for e in reversed(entries)] == [
        ("relationship.added", CURATOR, "the supplier's catalogue lists this widget"),
        ("relationship.retired", CURATOR, "listed by mistake: another supplier makes it")]


def _curators_round(page: Page, slug: str, base: str) -> None:
    """Sign in, find, explore, open, add and retire, check: the issue's round."""

    page.goto(f"{base}/admin/")
    page.fill("#id_username", CURATOR)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    _loaded(page)
    page.wait_for_selector("#site-name")
    assert "DictaMesh" in page.inner_text("#site-name")
    assert slug in page.inner_text("#site-name")  # the tenant's name
    _shoot(page, "1-index")

    # Find the customer by email from the entity list.
    page.click("a[href$='/admin/catalog/entitycatalog/']")
    _loaded(page)
    page.fill("#searchbar", "grace@example.com")
    page.press("#searchbar", "Enter")
    _loaded(page)
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1
    assert "Grace Hopper <grace@example.com>" in row.inner_text()
    _shoot(page, "2-search")
    row.locator("a", has_text="Grace Hopper").click()
    _loaded(page)
    _explorer_ready(page)
    # Depth 2 by default: the products are two hops away, line items collapsed.
    assert {str(p) for p in PRODUCTS} <= _nodes(page)
    assert not any(node.startswith("invoice_item:") for node in _nodes(page))
    _shoot(page, "3-customer")

    # Down to one hop, then expand one invoice to reach its products.
    page.select_option("#explorer-controls select[name=depth]", "1")
    page.click("#explorer-controls button[type=submit]")
    _loaded(page)
    page.wait_for_function("() => window.dictameshExplorer.nodes().length === 3")
    _explorer_ready(page)
    assert _nodes(page) == {str(CUSTOMER), *map(str, INVOICES)}
    _click_node(page, str(INVOICES[0]))
    page.click("#explorer-expand")
    page.wait_for_function("(id) => window.dictameshExplorer.getElementById(id).length",
                           arg=str(PRODUCTS[0]))
    _explorer_ready(page)
    assert _nodes(page) == {str(CUSTOMER), *map(str, INVOICES), str(PRODUCTS[0]),
                            str(PRODUCTS[1])}
    _shoot(page, "4-expanded")

    # Open a product from the graph.
    _click_node(page, str(PRODUCTS[1]))
    page.click("#explorer-open")
    page.wait_for_url(re.compile(r"/admin/catalog/entitycatalog/\d+/change/"))
    _explorer_ready(page)
    assert "Widget 2" in page.inner_text("#content")
    assert "SKU-00002" in page.inner_text("div.field-entity_id")

    # Add an edge to a supplier, found by name, with a reason.
    page.click("text=Add a relationship by hand")
    _loaded(page)
    assert page.input_value("#id_subject") == str(PRODUCTS[1])
    page.fill("#id_relationship_type", "supplied_by")
    page.locator("#id_object").press_sequentially("Acme", delay=40)
    page.wait_for_selector(f"#object-suggestions option[value='{SUPPLIER}']",
                           state="attached")
    page.fill("#id_object", str(SUPPLIER))
    page.fill("#id_reason", "the supplier's catalogue lists this widget")
    _shoot(page, "5-add-form")
    page.click("input[name=_continue]")
    _loaded(page)
    page.wait_for_selector("#retire-relationship")

    # Retire it from its page, with a reason.
    page.click("#retire-relationship")
    _loaded(page)
    page.fill("#id_reason", "listed by mistake: another supplier makes it")
    page.click("#retire-submit")
    _loaded(page)
    page.wait_for_selector("ul.messagelist")
    assert "Retired 1 relationship" in page.inner_text("ul.messagelist")
    trail = page.inner_text("#audit-trail")
    assert "the supplier's catalogue lists this widget" in trail
    assert "listed by mistake: another supplier makes it" in trail
    _shoot(page, "6-retired")

    # The product's page: lineage and curator changes show both.
    page.click(f"a:text-is('{PRODUCTS[1]}')")
    _loaded(page)
    _explorer_ready(page)
    lineage = page.inner_text("#lineage")
    assert f"curator:{CURATOR}" in lineage
    assert f"added relationship supplied_by -> {SUPPLIER}" in lineage
    assert f"retired relationship supplied_by -> {SUPPLIER}" in lineage
    changes = page.inner_text("#audit-trail")
    assert "relationship.added" in changes
    assert "relationship.retired" in changes
    assert "listed by mistake" in changes
    assert str(SUPPLIER) not in _nodes(page)  # retired: no longer walked
    _shoot(page, "7-product")
