"""Browser tests: Debian's Chromium, driven by Playwright, against the local stack of the end-to-end tests.

Chromium comes from apt (`make install` installs it), never from `playwright install`: there is no internet here
but the package registries. Screenshots of each state go to test-artifacts/browser/."""
from __future__ import annotations

from pathlib import Path

import pytest

# The end-to-end tests' stack (make dev's, on free ports, with a fake DashScope), for this package too.
from tests.e2e.conftest import fake_dashscope, local_stack  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Playwright adds --headless and a fresh temporary --user-data-dir to every launch; the rest keeps Chromium from
# calling home (no network here) and from needing what a container lacks (a sandbox, a GPU).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield browser
        browser.close()


class PageProblems:
    """What a page must never do: throw, or have anything refused by its Content-Security-Policy."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                if message.type == "error" and ("Content Security Policy" in message.text or "Refused to" in message.text)
                else None)


def open_context(browser, **options):
    context = browser.new_context(accept_downloads=True, **options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def desktop(browser):
    context = open_context(browser, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = PageProblems(page)
    yield page
    context.close()
    assert not page.problems.errors, page.problems.errors


@pytest.fixture
def phone(browser):
    context = open_context(browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                           has_touch=True)
    page = context.new_page()
    page.problems = PageProblems(page)
    yield page
    context.close()
    assert not page.problems.errors, page.problems.errors


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
