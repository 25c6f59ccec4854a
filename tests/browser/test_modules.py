"""The playground's script as Chromium loads it: ES modules, each fetched once under its content hash and kept from
the cache afterwards, and a Content-Security-Policy that refuses any script written into the page."""
from __future__ import annotations

import re

import pytest
import requests

from tests.browser.conftest import ROOT, screenshot

pytestmark = [pytest.mark.browser]

STATIC_MODULES = {path.name for path in (ROOT / "functions" / "playground" / "static").glob("*.js")}


def test_the_modules_load_once_each_under_their_hash_and_come_from_the_cache_next_time(desktop, local_stack):
    page, base_url = desktop, local_stack.url
    scripts = []
    page.on("response", lambda response: scripts.append(response)
            if response.request.resource_type == "script" else None)
    page.goto(f"{base_url}/")
    page.wait_for_selector("#login-view:not([hidden])")
    page.wait_for_selector("#ops input[value=fix]", state="attached")  # the form module ran

    urls = [response.url for response in scripts]
    assert all(re.fullmatch(rf"{re.escape(base_url)}/playground/app\.js\?v=[0-9a-f]{{16}}", url) for url in urls), urls
    assert len(urls) == len(set(urls)) == len(STATIC_MODULES), "each module fetched once (preloads included)"
    for response in scripts:
        assert response.status == 200 and response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    # No module is asked for by its file name (that would be a URL no deployment could invalidate).
    assert requests.get(f"{base_url}/playground/api.js", timeout=10).status_code == 404

    def transferred() -> dict[str, int]:
        return dict(page.evaluate("""() => performance.getEntriesByType("resource")
            .filter((e) => e.name.includes("/playground/app.js")).map((e) => [e.name, e.transferSize])"""))

    first = transferred()
    assert set(first) == set(urls) and all(size > 0 for size in first.values()), first
    # The next visit revalidates the page and takes every module from the cache (nothing transferred).
    page.goto(f"{base_url}/")
    page.wait_for_selector("#login-view:not([hidden])")
    again = transferred()
    assert set(again) == set(urls) and all(size == 0 for size in again.values()), again
    screenshot(page, "13-modules-loaded")


def test_the_policy_refuses_a_script_written_into_the_page(desktop, local_stack):
    page, base_url = desktop, local_stack.url
    page.goto(f"{base_url}/")
    page.wait_for_selector("#login-view:not([hidden])")
    page.evaluate("""() => {
        for (const type of ["text/javascript", "module"]) {
            const script = document.createElement("script");
            script.type = type;
            script.textContent = "window.injected = (window.injected || 0) + 1;";
            document.head.append(script);
        }
        const map = document.createElement("script");  // nor may an import map redirect the modules
        map.type = "importmap";
        map.textContent = JSON.stringify({ imports: { "/playground/app.js": "data:text/javascript,window.mapped=1" } });
        document.head.append(map);
    }""")
    page.wait_for_timeout(200)
    assert page.evaluate("[window.injected, window.mapped]") == [None, None]
    refusals = [error for error in page.problems.errors if "Content Security Policy" in error]
    assert len(refusals) == 3, page.problems.errors
    page.problems.errors[:] = [error for error in page.problems.errors if error not in refusals]
    # The page still works: its own modules run.
    assert page.locator("#ops input[type=radio]").count() == 6
