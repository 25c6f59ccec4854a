"""The web playground (GET /) in headless Chromium against the local stack: log in, run jobs, compare, download,
errors, and a phone-sized screen. Each state is kept as a screenshot under test-artifacts/browser/."""
from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import requests
from PIL import Image

from imgapi_local.devserver import DEMO_PASSWORD, DEMO_USER
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.e2e.conftest import login
from tests.support.images import BACKGROUND, portrait_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHECKER = np.array([[0xCC] * 3, [0xFF] * 3])  # the page's checkerboard colours (app.css)
NOT_AN_IMAGE = b"these are notes, not a picture\n" * 20


def log_in(page, base_url: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base_url}/")
    page.fill("#login-form input[name=username]", DEMO_USER)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


def job_card(page, status: str):
    return page.locator(f"#jobs li.job[data-status={status}]").first


def result_shown(page, card) -> str:
    """Wait until the viewer shows this job's result; its task id."""
    task_id = card.get_attribute("data-task-id")
    page.wait_for_selector(f"#viewer[data-loaded=true][data-task-id='{task_id}']")
    return task_id


def choose_file(page, field: str, name: str, data: bytes, mime: str) -> None:
    """A file picked with the file chooser of the form's `field` slot."""
    page.set_input_files(f".slot[data-field={field}] input[type=file]",
                         files=[{"name": name, "mimeType": mime, "buffer": data}])


def drop_file(page, selector: str, name: str, data: bytes, mime: str) -> None:
    """A file dropped on the drop zone, as dragging it from the desktop does."""
    transfer = page.evaluate_handle("""([name, b64, mime]) => {
        const transfer = new DataTransfer();
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: mime }));
        return transfer;
    }""", [name, base64.b64encode(data).decode(), mime])
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def api_error(response: requests.Response) -> str:
    body = response.json()
    return body["error"]


def test_log_in_run_a_combo_job_compare_download_and_reopen_it(desktop, local_stack):
    page, base_url = desktop, local_stack.url
    response = page.goto(f"{base_url}/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and f"connect-src 'self' https: blob: data: {local_stack.aws_url}" in policy
    screenshot(page, "01-login")

    # A wrong password: the API's own message, and still the login form.
    wrong = requests.post(f"{base_url}/api/v1/login", json={"username": DEMO_USER, "password": "not-it"}, timeout=10)
    log_in(page, base_url, password="not-it")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.inner_text("#login-error") == api_error(wrong)
    screenshot(page, "02-login-refused")

    log_in(page, base_url)
    page.wait_for_selector("#app-view:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('imgapi.token')")
    assert page.inner_text("#who") == f"Signed in as {DEMO_USER}"
    assert page.input_value("#param-enhance_level") == "medium"  # the API's default level

    choose_file(page, "file", "portrait.jpg", portrait_jpeg(240, 320), "image/jpeg")
    assert page.inner_text(".slot[data-field=file] .chosen .file-name") == "portrait.jpg"
    screenshot(page, "03-file-chosen")
    page.click("#run")
    page.wait_for_selector("#jobs li.job")
    screenshot(page, "04-job-submitted")
    card = job_card(page, "completed")
    card.wait_for(timeout=30_000)
    assert card.locator(".chip").inner_text() == "Completed"

    # The result opens by itself: input and result, the result over a checkerboard.
    task_id = result_shown(page, card)
    assert page.evaluate("document.getElementById('compare-after').naturalWidth") == 480  # medium: 2x
    assert page.get_attribute("#compare-before", "src").startswith("blob:")
    page.fill("#compare-range", "0")  # the whole frame shows the result
    screenshot(page, "05-result-compare")
    shot = np.asarray(Image.open(io.BytesIO(page.locator("#compare").screenshot())).convert("RGB")).astype(int)
    height, width, _ = shot.shape
    # Beside the subject's head, clear of the Before/After tags and the divider: the result is transparent there.
    corner = shot[height * 8 // 100: height * 16 // 100, width * 5 // 100: width * 20 // 100].reshape(-1, 3)
    nearest = np.abs(corner[:, None, :] - CHECKER[None, :, :]).sum(axis=2).min(axis=1)
    assert (nearest <= 12).mean() > 0.97, "where the result is transparent, the checkerboard shows"
    shades = set(map(tuple, corner[nearest <= 12]))
    assert any(s[0] < 230 for s in shades) and any(s[0] > 240 for s in shades), "both squares of the checkerboard"
    assert np.abs(corner - np.array(BACKGROUND)).sum(axis=1).min() > 40, "none of the removed background is left"
    middle = shot[height // 2, width // 2]
    assert middle[0] > 150 and middle[2] < 110, "the subject (red) is drawn over the checkerboard"

    page.click("#mode-side")
    page.wait_for_selector("#side:not([hidden])")
    frame = page.evaluate("getComputedStyle(document.querySelector('#side .frame')).backgroundImage")
    assert frame.startswith("conic-gradient")
    screenshot(page, "06-result-side-by-side")

    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "portrait-combo.png"
    saved = ARTIFACTS / "downloaded-portrait-combo.png"
    download.save_as(str(saved))
    image = Image.open(saved)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (480, 640)
    alpha = np.asarray(image)[..., 3]
    assert (alpha == 0).mean() > 0.3 and (alpha == 255).mean() > 0.2  # transparent background, opaque subject

    # Recent jobs: the job is listed, and opens again after the viewer was closed.
    page.click("#viewer-close")
    row = page.locator(f"#recent li[data-task-id='{task_id}'] button")
    row.wait_for()
    assert "Cut out + enhance" in row.inner_text() and "portrait.jpg" in row.inner_text()
    row.click()
    page.wait_for_selector(f"#viewer[data-loaded=true][data-task-id='{task_id}']")
    assert page.inner_text("#viewer-meta").startswith("480×640")
    screenshot(page, "07-reopened-from-recent-jobs")


def test_bad_files_show_the_apis_own_messages(desktop, local_stack):
    page, base_url = desktop, local_stack.url
    token = login(base_url)
    log_in(page, base_url)
    page.wait_for_selector("#app-view:not([hidden])")

    # Dropped on combo: straight to S3, where the upload is taken in and refused; the job's reason is shown.
    drop_file(page, ".slot[data-field=file] .drop", "notes.png", NOT_AN_IMAGE, "image/png")
    page.click("#run")
    card = job_card(page, "failed")
    card.wait_for(timeout=30_000)
    job = requests.get(f"{base_url}/api/v1/jobs/{card.get_attribute('data-task-id')}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert job["error"]["message"].startswith("notes.png: ")
    assert card.locator(".job-error").inner_text() == f"{job['error']['message']} ({job['error']['code']})"

    # As an image to fix (multipart to POST /fix): refused at once with 400, the message as the API words it.
    refused = requests.post(f"{base_url}/fix", headers={"Authorization": f"Bearer {token}"},
                            files={"base_image": ("notes.png", NOT_AN_IMAGE, "image/png")}, timeout=10)
    assert refused.status_code == 400
    page.check("#ops input[value=fix]")
    choose_file(page, "base_image", "notes.png", NOT_AN_IMAGE, "image/png")
    page.click("#run")
    refused_card = page.locator("#jobs li.job[data-status=failed]", has_text="Fix / upscale")
    refused_card.wait_for()
    assert refused_card.locator(".job-error").inner_text() == f"{api_error(refused)} ({refused.json()['code']})"
    assert '{"error"' not in page.content()
    screenshot(page, "08-bad-files")

    # A required image left out: said on the form, nothing sent.
    page.check("#ops input[value=expand]")
    page.click("#run")
    assert page.inner_text("#form-error") == "Choose an image for Image or give its URL."

    # A token the API no longer takes (expired, or signed with another key): back to the login form, saying why.
    page.evaluate("sessionStorage.setItem('imgapi.token', 'not-a-token')")
    page.reload()
    page.wait_for_selector("#login-view:not([hidden])")
    bad_token = requests.get(f"{base_url}/api/v1/jobs", headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert bad_token.status_code == 401
    assert page.inner_text("#login-error").startswith(api_error(bad_token))
    assert page.evaluate("sessionStorage.getItem('imgapi.token')") is None
    screenshot(page, "09-token-refused")


def test_an_edit_sends_its_files_and_settings_and_a_fill_colour_reaches_the_result(desktop, local_stack):
    page, base_url = desktop, local_stack.url
    log_in(page, base_url)
    page.wait_for_selector("#app-view:not([hidden])")

    # expand, multipart to POST /expand: the scales as set, on the local engine; its note shown.
    page.check("#ops input[value=expand]")
    assert page.input_value("#param-n") == "2" and page.input_value("#param-top_scale") == "1.5"  # the API's defaults
    for side, value in (("top", "1"), ("bottom", "1"), ("left", "2"), ("right", "2")):
        page.fill(f"#param-{side}_scale", value)
    page.select_option("#param-engine", "local")
    choose_file(page, "base_image", "wide.jpg", portrait_jpeg(120, 160), "image/jpeg")
    page.click("#run")
    card = page.locator("#jobs li.job[data-status=completed]", has_text="Expand")
    card.wait_for(timeout=30_000)
    result_shown(page, card)
    assert page.evaluate("[document.getElementById('compare-after').naturalWidth, "
                         "document.getElementById('compare-after').naturalHeight]") == [240, 160]
    assert "the local engine is deterministic and makes one image" in page.inner_text("#viewer-notes")
    screenshot(page, "12-expand-local")

    # remove_bg through the direct upload, filled with a colour as WebP: an opaque result, named for the input.
    page.check("#ops input[value=remove_bg]")
    page.select_option("#param-format", "webp")
    page.select_option("#params select[name=background]", "colour")
    page.fill("#params input[name=bgcolor]", "#00ff00")
    choose_file(page, "image", "shop item.png", portrait_jpeg(120, 160), "image/png")
    page.click("#run")
    card = page.locator("#jobs li.job[data-status=completed]", has_text="Remove background")
    card.wait_for(timeout=30_000)
    result_shown(page, card)  # the newest submit's result replaces the one shown
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "shop_item-remove_bg.webp"
    image = Image.open(download.path())
    assert image.format == "WEBP"
    pixels = np.asarray(image.convert("RGBA"))
    assert pixels[..., 3].min() == 255 and tuple(pixels[2, 2, :3]) == (0, 255, 0)  # the background, filled


def test_a_phone_sized_screen_has_no_horizontal_scrolling(phone, local_stack):
    page, base_url = phone, local_stack.url

    def overflow() -> list[str]:
        """What sticks out to the right of the screen: the page's scroll width, and any element's right edge."""
        return page.evaluate("""() => {
            const width = window.innerWidth;
            const wide = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > width + 0.5)
                .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`);
            const scroll = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
            return scroll > width ? [`scroll width ${scroll}`, ...wide] : wide;
        }""")

    page.goto(f"{base_url}/")
    page.wait_for_selector("#login-view:not([hidden])")
    assert overflow() == []
    screenshot(page, "10-phone-login")
    log_in(page, base_url)
    page.wait_for_selector("#app-view:not([hidden])")
    for operation in ("expand", "change_cloth", "combo"):  # the longest forms, and the one run below
        page.check(f"#ops input[value={operation}]")
        assert overflow() == [], operation
    choose_file(page, "file", "a-rather-long-file-name-for-a-small-screen-portrait.jpg", portrait_jpeg(200, 260), "image/jpeg")
    page.click("#run")
    card = job_card(page, "completed")
    card.wait_for(timeout=30_000)
    task_id = result_shown(page, card)
    page.wait_for_selector(f"#recent li[data-task-id='{task_id}']")  # long names, there too
    assert overflow() == []
    box = page.locator("#compare").bounding_box()
    assert box["width"] <= 390 and box["height"] > 100
    page.locator("#viewer").scroll_into_view_if_needed()
    screenshot(page, "11-phone-result")
    assert re.fullmatch(r"\d+×\d+ · .*", page.inner_text("#viewer-meta"))


def test_a_running_job_can_be_cancelled_from_its_card(desktop, local_stack, fake_dashscope):
    page, base_url = desktop, local_stack.url
    log_in(page, base_url)
    page.wait_for_selector("#app-view:not([hidden])")
    pending_polls, fake_dashscope.pending_polls = fake_dashscope.pending_polls, 10_000  # the task stays PENDING
    try:
        page.check("#ops input[value=expand]")
        page.select_option("#param-engine", "dashscope")
        choose_file(page, "base_image", "slow.jpg", portrait_jpeg(120, 160), "image/jpeg")
        page.click("#run")
        card = page.locator("#jobs li.job[data-status=processing]", has_text="Expand")
        card.wait_for(timeout=30_000)
        card.locator(".job-cancel").click()
        cancelled = page.locator("#jobs li.job[data-status=cancelled]", has_text="Expand")
        cancelled.wait_for(timeout=10_000)
        assert cancelled.locator(".chip").inner_text() == "Cancelled" and not cancelled.locator(".job-cancel").is_visible()
        job = requests.get(f"{base_url}/api/v1/jobs/{cancelled.get_attribute('data-task-id')}",
                           headers={"Authorization": f"Bearer {login(base_url)}"}, timeout=10).json()
        assert job["status"] == "cancelled"
        screenshot(page, "14-cancelled")
    finally:
        fake_dashscope.pending_polls = pending_polls
