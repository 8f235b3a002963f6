"""The console in real headless Chromium (Debian's `chromium`, driven by Playwright) against
a real uvicorn server on loopback: the main flows, the charts actually drawn, and a
screenshot of each page written to docs/screenshots/ for the README.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.service.server import background
from socialcredit.store import Store
from test_console import CLEAN, DEBTOR, OBJECTOR, RECORDS, nid

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing — apt-get install -y chromium (scripts/ensure-services)"
        )
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    store.set_setting("demo", "browser test")  # so the demo picker is served too
    tokens = {
        "source": create_token(store, "source", source="court"),
        "provider": create_token(store, "provider", services=["flight", "rail_hsr"]),
        "resident": create_token(store, "subject", national_id=OBJECTOR),
        "official": create_token(store, "official"),
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    with background(create_app(store=store)) as base, sync_playwright() as p:
        r = httpx.post(f"{base}/v1/records", json=RECORDS,
                       headers={"Authorization": f"Bearer {tokens['source']['token']}"})  # fmt: skip
        assert r.status_code == 200, r.text
        browser = p.chromium.launch(executable_path=CHROMIUM)
        yield base, tokens, browser
        browser.close()
    store.close()


def open_as(site, who: str, width: int = 1200):
    """A fresh browser page signed in through the form, with the keyboard only."""
    base, tokens, browser = site
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/console")
    page.get_by_label("Your token").fill(tokens[who]["token"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_and_demo_pages_are_keyboard_usable(site):
    base, _, browser = site
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    page.goto(f"{base}/console")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    shot(page, "sign-in")
    page.goto(f"{base}/console/demo")
    assert page.get_by_label("Resident").count() == 1
    shot(page, "demo")
    page.close()


def test_a_resident_objects_and_sees_the_suspension_then_an_official_decides(site):
    page = open_as(site, "resident")
    assert page.url.endswith("/console/me")
    assert page.locator("#contributions svg.main-svg").count() > 0
    row = page.locator("tr.entry", has_text="dishonest-debtors")
    assert row.locator(".state").inner_text() == "active"
    page.get_by_label("What do you object to?").select_option("record:court:k-objector")
    page.get_by_label("Why").fill("I paid the debt in full; the court has the receipt.")
    with page.expect_navigation():
        page.get_by_role("button", name="File the objection").click()
    assert "is open; an official must decide" in page.get_by_role("status").inner_text()
    assert row.locator(".state").inner_text() == "suspended"
    shot(page, "resident")
    phone = open_as(site, "resident", width=375)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    shot(phone, "resident-phone")
    phone.close()
    page.close()

    page = open_as(site, "official")
    card = page.locator("article.objection", has_text="court:k-objector")
    card.locator("summary").click()  # the evidence
    assert "court.dishonest_debtor" in card.inner_text()
    shot(page, "official")
    card.get_by_label("Accept: the record no longer counts").check()
    card.get_by_label("Note to the person (reasons)").fill("The court confirms the payment.")
    with page.expect_navigation():
        card.get_by_role("button", name="Decide").click()
    assert "accepted" in page.get_by_role("status").inner_text()
    assert page.locator("article.objection", has_text="court:k-objector").count() == 0
    page.goto(page.url.split("/console")[0] + "/console/official/subject?q=" + OBJECTOR)
    assert "objection decided" in page.locator("section", has_text="Notices").inner_text()
    shot(page, "subject")
    page.goto(page.url.split("/console")[0] + "/console/official/lists?list=dishonest-debtors")
    shot(page, "lists")
    page.goto(page.url.split("/console")[0] + "/console/official/links")
    shot(page, "links")
    page.close()


def test_a_provider_checks_a_manifest(site, tmp_path):
    manifest = tmp_path / "flight-0815.csv"
    manifest.write_text(f"seat,national_id\n1A,{DEBTOR}\n1B,{CLEAN}\n1C,{nid(9)}\n")
    page = open_as(site, "provider")
    form = page.locator("form", has_text="A manifest")
    form.get_by_label("Service").select_option("flight")
    form.get_by_label("CSV file").set_input_files(str(manifest))
    with page.expect_navigation():
        form.get_by_role("button", name="Check the manifest").click()
    decisions = page.locator("#manifest-results td.decision").all_text_contents()
    assert decisions == ["deny", "allow", "allow"]
    assert "dishonest-debtors" in page.locator("#manifest-results").inner_text()
    shot(page, "provider")
    page.close()


def test_the_dashboard_draws_its_charts(site):
    base, tokens, _ = site
    r = httpx.post(f"{base}/v1/checks", json={"national_id": DEBTOR, "service": "rail_hsr"},
                   headers={"Authorization": f"Bearer {tokens['provider']['token']}"})  # fmt: skip
    assert r.json()["decision"] == "deny"  # so that the checks chart has a bar, in any order
    page = open_as(site, "official")
    page.goto(page.url.split("/console")[0] + "/console/city")
    plots = page.locator(".plot")
    assert plots.count() == 5
    page.wait_for_function(
        "[...document.querySelectorAll('.plot')].every(p => p.dataset.drawn === 'true')"
    )
    for i in range(5):
        plot = plots.nth(i)
        assert plot.locator("svg.main-svg").count() > 0, plot.get_attribute("id")
    # marks, not just axes: bars have paths with a size, lines a drawn path
    bars = page.locator("#chart-grades .bars path")
    assert bars.count() >= 1 and bars.first.bounding_box()["height"] > 0
    assert page.locator("#chart-lists .scatterlayer .trace path.js-line").count() >= 1
    assert page.locator("#chart-checks .bars path").count() >= 1
    shot(page, "city")
    page.close()


def test_pages_fit_a_phone_screen(site):
    base = site[0]
    for who, paths in (("provider", ["/console/provider"]),
                       ("official", ["/console/official", "/console/official/lists", "/console/city"])):  # fmt: skip
        page = open_as(site, who, width=375)
        for path in paths:
            page.goto(base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} is {width} px wide on a 375 px screen"
        page.close()
