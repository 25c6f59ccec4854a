"""The DashScope fake must itself follow /work/shared/dashscope.md, or tests built on it prove nothing."""
from __future__ import annotations

import copy
import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from tests.support.fake_dashscope import (
    BACKGROUND_MODEL, IMAGEEDIT_MODEL, SYNC_CALL_MESSAGE, FakeDashScope,
)

BG = "/services/aigc/background-generation/generation/"
I2I = "/services/aigc/image2image/image-synthesis"
MM = "/services/aigc/multimodal-generation/generation"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")

BG_BODY = {"model": BACKGROUND_MODEL,
           "input": {"base_image_url": "https://bucket.example/cutout.png", "ref_prompt": "a sunny beach"},
           "parameters": {"n": 1, "model_version": "v3", "noise_level": 300, "ref_prompt_weight": 0.5}}
TRYON_BODY = {"model": "aitryon-plus",
              "input": {"person_image_url": "https://bucket.example/person.jpg",
                        "top_garment_url": "https://bucket.example/top.jpg"},
              "parameters": {"resolution": -1, "restore_face": True}}
EXPAND_BODY = {"model": IMAGEEDIT_MODEL,
               "input": {"function": "expand", "prompt": "extend the scene",
                         "base_image_url": "https://bucket.example/photo.jpg"},
               "parameters": {"n": 1, "top_scale": 1.5, "bottom_scale": 1.5, "left_scale": 2.0, "right_scale": 1.0}}
SR_BODY = {"model": IMAGEEDIT_MODEL,
           "input": {"function": "super_resolution", "prompt": "sharpen",
                     "base_image_url": "data:image/png;base64,iVBORw0KGgo="},
           "parameters": {"upscale_factor": 2}}
QWEN_BODY = {"model": "qwen-image-edit-plus",
             "input": {"messages": [{"role": "user", "content": [
                 {"image": "https://bucket.example/person.jpg"}, {"image": "https://bucket.example/bg.jpg"},
                 {"text": "put the person of image 1 in front of the background of image 2"}]}]},
             "parameters": {"n": 1, "negative_prompt": "blurry", "watermark": False, "size": "640*512"}}


@pytest.fixture
def fake():
    with FakeDashScope() as server:
        yield server


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def post(http, fake, path, body, *, key=None, async_header=True, **kwargs):
    headers = {"Authorization": f"Bearer {key or fake.api_key}"}
    if async_header:
        headers["X-DashScope-Async"] = "enable"
    return http.post(fake.base_url + path, json=body, headers=headers, timeout=5, **kwargs)


def get_task(http, fake, task_id, timeout=5):
    return http.get(f"{fake.base_url}/tasks/{task_id}", headers={"Authorization": f"Bearer {fake.api_key}"},
                    timeout=timeout)


def submit_ok(http, fake, path, body) -> str:
    response = post(http, fake, path, body)
    assert response.status_code == 200, response.text
    assert response.json()["output"]["task_status"] == "PENDING"
    return response.json()["output"]["task_id"]


def poll_to_end(http, fake, task_id, limit=10) -> tuple[list[str], dict]:
    seen = []
    for _ in range(limit):
        response = get_task(http, fake, task_id)
        assert response.status_code == 200
        body = response.json()
        seen.append(body["output"]["task_status"])
        if seen[-1] not in ("PENDING", "RUNNING"):
            return seen, body
    return seen, body


def fetch_png(http, url) -> Image.Image:
    response = http.get(url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return image


def assert_error(response, status, code, message=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and body["request_id"]
    if message is not None:
        assert message in body["message"]


# ------------------------------------------------------------------ lifecycle and recording

def test_base_url_request_recording_and_shutdown(http):
    with FakeDashScope(api_key="sk-other") as fake:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", fake.base_url)
        task_id = submit_ok(http, fake, BG, BG_BODY)
        sent = fake.submits[0]
        assert (sent.method, sent.path) == ("POST", "/api/v1" + BG)
        assert sent.headers["authorization"] == "Bearer sk-other"
        assert sent.headers["X-DashScope-Async"] == "enable"
        assert sent.body == BG_BODY and sent.model == BACKGROUND_MODEL
        get_task(http, fake, task_id)
        assert [r.path for r in fake.queries(task_id)] == [f"/api/v1/tasks/{task_id}"]
        base_url = fake.base_url
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "/tasks/x", timeout=1)


# ------------------------------------------------------------------ async success paths

def test_background_generation_runs_to_success_and_serves_a_real_png(fake, http):
    task_id = submit_ok(http, fake, BG, BG_BODY)
    assert fake.in_flight[BACKGROUND_MODEL] == 1
    seen, body = poll_to_end(http, fake, task_id)
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED"]
    out = body["output"]
    assert all(TIME.match(out[k]) for k in ("submit_time", "scheduled_time", "end_time"))
    assert body["usage"] == {"image_count": 1} and "task_metrics" not in out and "image_url" not in out
    [result] = out["results"]
    assert result["url"].startswith(fake.root_url + "/results/") and "Signature=" in result["url"]
    image = fetch_png(http, result["url"])
    assert image.size == fake.result_size == (fake.result_for_url(result["url"]).width,
                                              fake.result_for_url(result["url"]).height)
    assert fake.in_flight[BACKGROUND_MODEL] == 0 and fake.max_in_flight[BACKGROUND_MODEL] == 1
    # terminal is terminal: more polls change nothing
    assert get_task(http, fake, task_id).json()["output"] == out


def test_poll_counts_are_configurable(fake, http):
    fake.pending_polls, fake.running_polls = 2, 3
    seen, _ = poll_to_end(http, fake, submit_ok(http, fake, BG, BG_BODY))
    assert seen == ["PENDING"] * 2 + ["RUNNING"] * 3 + ["SUCCEEDED"]
    fake.pending_polls = fake.running_polls = 0
    assert poll_to_end(http, fake, submit_ok(http, fake, BG, BG_BODY))[0] == ["SUCCEEDED"]


def test_tryon_answers_a_single_image_url_and_endpoints_take_both_slash_forms(fake, http):
    for path in (I2I, I2I + "/"):
        seen, body = poll_to_end(http, fake, submit_ok(http, fake, path, TRYON_BODY))
        out = body["output"]
        assert seen[-1] == "SUCCEEDED" and "results" not in out and body["usage"] == {"image_count": 1}
        assert fetch_png(http, out["image_url"]).size == fake.result_size
    assert submit_ok(http, fake, BG.rstrip("/"), BG_BODY)


def test_imageedit_n_results_task_metrics_and_per_model_size(fake, http):
    fake.result_sizes[IMAGEEDIT_MODEL] = (200, 150)
    body = copy.deepcopy(EXPAND_BODY)
    body["parameters"]["n"] = 2
    _, answer = poll_to_end(http, fake, submit_ok(http, fake, I2I, body))
    out = answer["output"]
    assert out["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
    assert answer["usage"] == {"image_count": 2}
    pngs = [http.get(r["url"], timeout=5).content for r in out["results"]]
    assert pngs[0] != pngs[1]
    assert Image.open(io.BytesIO(pngs[0])).size == (200, 150)
    assert poll_to_end(http, fake, submit_ok(http, fake, I2I, SR_BODY))[0][-1] == "SUCCEEDED"


# ------------------------------------------------------------------ scripted task outcomes

def test_partial_success(fake, http):
    fake.task_outcome("SUCCEEDED", failed=1)
    body = copy.deepcopy(EXPAND_BODY)
    body["parameters"]["n"] = 3
    seen, answer = poll_to_end(http, fake, submit_ok(http, fake, I2I, body))
    out = answer["output"]
    assert seen[-1] == "SUCCEEDED"
    assert [sorted(r) for r in out["results"]] == [["url"], ["url"], ["code", "message"]]
    assert out["results"][2]["code"] == "DataInspectionFailed"
    assert out["task_metrics"] == {"TOTAL": 3, "SUCCEEDED": 2, "FAILED": 1}
    assert answer["usage"] == {"image_count": 2}


def test_failed_task_is_http_200_with_output_code(fake, http):
    fake.task_outcome("FAILED", "InvalidPerson", "no person found", model="aitryon-plus")
    other = submit_ok(http, fake, I2I, EXPAND_BODY)          # another model: not affected
    seen, answer = poll_to_end(http, fake, submit_ok(http, fake, I2I, TRYON_BODY))
    assert seen[-1] == "FAILED"
    out = answer["output"]
    assert (out["code"], out["message"]) == ("InvalidPerson", "no person found")
    assert "image_url" not in out and answer["usage"] == {"image_count": 0} and TIME.match(out["end_time"])
    assert poll_to_end(http, fake, other)[0][-1] == "SUCCEEDED"
    assert fake.in_flight["aitryon-plus"] == 0


def test_partial_failure_of_every_image_fails_the_task(fake, http):
    fake.task_outcome("SUCCEEDED", "DataInspectionFailed", failed=4)
    body = copy.deepcopy(BG_BODY)
    body["parameters"]["n"] = 2
    seen, answer = poll_to_end(http, fake, submit_ok(http, fake, BG, body))
    assert seen[-1] == "FAILED" and answer["output"]["code"] == "DataInspectionFailed"
    assert answer["output"]["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 0, "FAILED": 2}


def test_unknown_and_canceled_outcomes(fake, http):
    answer = get_task(http, fake, "no-such-task").json()
    assert answer["output"] == {"task_id": "no-such-task", "task_status": "UNKNOWN"} and answer["request_id"]
    fake.task_outcome("UNKNOWN")
    seen, answer = poll_to_end(http, fake, submit_ok(http, fake, BG, BG_BODY))
    assert seen[-1] == "UNKNOWN" and "usage" not in answer
    fake.task_outcome("CANCELED")
    seen, answer = poll_to_end(http, fake, submit_ok(http, fake, BG, BG_BODY))
    assert seen[-1] == "CANCELED" and answer["usage"] == {"image_count": 0}
    assert fake.in_flight[BACKGROUND_MODEL] == 0


def test_hung_task_stays_running_and_in_flight(fake, http):
    fake.hang_next_task()
    task_id = submit_ok(http, fake, I2I, EXPAND_BODY)
    seen, _ = poll_to_end(http, fake, task_id, limit=15)
    assert seen == ["PENDING"] + ["RUNNING"] * 14
    assert fake.in_flight[IMAGEEDIT_MODEL] == 1
    assert poll_to_end(http, fake, submit_ok(http, fake, I2I, EXPAND_BODY))[0][-1] == "SUCCEEDED"


# ------------------------------------------------------------------ cancel

def test_cancel_only_while_pending(fake, http):
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    task_id = submit_ok(http, fake, BG, BG_BODY)
    get_task(http, fake, task_id)                                     # still PENDING after 1 poll
    response = http.post(f"{fake.base_url}/tasks/{task_id}/cancel", headers=auth, timeout=5)
    assert response.status_code == 200 and response.json()["request_id"]
    answer = get_task(http, fake, task_id).json()
    assert answer["output"]["task_status"] == "CANCELED" and TIME.match(answer["output"]["end_time"])
    assert fake.in_flight[BACKGROUND_MODEL] == 0
    assert_error(http.post(f"{fake.base_url}/tasks/{task_id}/cancel", headers=auth, timeout=5),
                 400, "UnsupportedOperation")
    running = submit_ok(http, fake, BG, BG_BODY)
    get_task(http, fake, running), get_task(http, fake, running)      # now RUNNING
    assert_error(http.post(f"{fake.base_url}/tasks/{running}/cancel", headers=auth, timeout=5),
                 400, "UnsupportedOperation")
    assert_error(http.post(f"{fake.base_url}/tasks/nope/cancel", headers=auth, timeout=5),
                 400, "UnsupportedOperation")


# ------------------------------------------------------------------ HTTP errors

def test_api_key_is_required_everywhere(fake, http):
    assert_error(post(http, fake, BG, BG_BODY, key="sk-wrong"), 401, "InvalidApiKey")
    assert_error(http.post(fake.base_url + BG, json=BG_BODY, headers={"X-DashScope-Async": "enable"}, timeout=5),
                 401, "InvalidApiKey")
    assert_error(http.get(fake.base_url + "/tasks/x", headers={"Authorization": "Bearer nope"}, timeout=5),
                 401, "InvalidApiKey")
    assert_error(post(http, fake, MM, QWEN_BODY, key="sk-wrong", async_header=False), 401, "InvalidApiKey")
    assert not fake.tasks and len(fake.requests) == 4     # rejected requests are recorded too


def test_unknown_retired_and_misrouted_models(fake, http):
    assert_error(post(http, fake, I2I, {**EXPAND_BODY, "model": "wanx9-imageedit"}), 404, "ModelNotFound")
    assert_error(post(http, fake, BG, TRYON_BODY), 400, "InvalidParameter", "url error")
    fake.retired_models = {"aitryon-plus", "qwen-image-edit-plus"}
    assert_error(post(http, fake, I2I, TRYON_BODY), 400, "InvalidParameter", "Model not exist")
    assert_error(post(http, fake, MM, QWEN_BODY, async_header=False), 400, "InvalidParameter", "Model not exist")
    fake.retired_status = 404
    assert_error(post(http, fake, I2I, TRYON_BODY), 404, "ModelNotFound")
    submit_ok(http, fake, I2I, {**TRYON_BODY, "model": "aitryon"})
    assert len(fake.tasks) == 1


def test_async_models_require_the_async_header(fake, http):
    assert_error(post(http, fake, BG, BG_BODY, async_header=False), 403, "AccessDenied", SYNC_CALL_MESSAGE)
    assert not fake.tasks and fake.in_flight[BACKGROUND_MODEL] == 0


def _edit(body, section, **changes):
    edited = copy.deepcopy(body)
    for key, value in changes.items():
        if value is None:
            edited[section].pop(key, None)
        else:
            edited[section][key] = value
    return edited


@pytest.mark.parametrize("path,body,code,hint", [
    (BG, _edit(BG_BODY, "input", base_image_url=None), "InvalidParameter", "base_image_url"),
    (BG, _edit(BG_BODY, "input", ref_prompt=None), "InvalidParameter", "ref_image_url"),
    (BG, _edit(BG_BODY, "input", base_image_url="s3://bucket/key.png"), "InvalidURL", "base_image_url"),
    (BG, _edit(BG_BODY, "parameters", n=5), "InvalidParameter", "n"),
    (BG, _edit(BG_BODY, "parameters", model_version="v4"), "InvalidParameter", "model_version"),
    (BG, _edit(BG_BODY, "parameters", noise_level=1000), "InvalidParameter", "noise_level"),
    (BG, _edit(BG_BODY, "parameters", ref_prompt_weight=1.5), "InvalidParameter", "ref_prompt_weight"),
    (I2I, _edit(TRYON_BODY, "input", person_image_url=None), "InvalidParameter", "person_image_url"),
    (I2I, _edit(TRYON_BODY, "input", top_garment_url=None), "InvalidParameter", "garment"),
    (I2I, _edit(TRYON_BODY, "parameters", resolution=2048), "InvalidParameter", "resolution"),
    (I2I, _edit(EXPAND_BODY, "input", function="paint"), "InvalidParameter", "function"),
    (I2I, _edit(EXPAND_BODY, "input", function=None), "InvalidParameter", "function"),
    (I2I, _edit(EXPAND_BODY, "input", prompt=None), "InvalidParameter", "prompt"),
    (I2I, _edit(EXPAND_BODY, "input", prompt="x" * 801), "InvalidParameter", "800"),
    (I2I, _edit(EXPAND_BODY, "parameters", top_scale=2.5), "InvalidParameter", "top_scale"),
    (I2I, _edit(EXPAND_BODY, "parameters", left_scale=0.9), "InvalidParameter", "left_scale"),
    (I2I, _edit(EXPAND_BODY, "parameters", n=0), "InvalidParameter", "n"),
    (I2I, _edit(SR_BODY, "parameters", upscale_factor=5), "InvalidParameter", "upscale_factor"),
    (I2I, _edit(SR_BODY, "parameters", upscale_factor=True), "InvalidParameter", "upscale_factor"),
    (I2I, {"model": IMAGEEDIT_MODEL}, "BadRequest.EmptyInput", None),
    (I2I, {"input": EXPAND_BODY["input"]}, "BadRequest.EmptyModel", None),
])
def test_async_body_validation(fake, http, path, body, code, hint):
    response = post(http, fake, path, body)
    assert_error(response, 400, code, hint)
    assert not fake.tasks


def test_non_json_body_and_unknown_path(fake, http):
    auth = {"Authorization": f"Bearer {fake.api_key}", "X-DashScope-Async": "enable"}
    assert_error(http.post(fake.base_url + BG, data=b"{not json", headers=auth, timeout=5), 400, "InvalidParameter")
    assert fake.requests[-1].raw == b"{not json" and fake.requests[-1].body is None
    assert_error(http.get(fake.base_url + "/nowhere", headers=auth, timeout=5), 404, "NotFound")


# ------------------------------------------------------------------ scripted HTTP failures and delays

def test_scripted_submit_failures(fake, http):
    fake.fail_next_submit(429, "Throttling", times=2)
    assert_error(post(http, fake, BG, BG_BODY), 429, "Throttling")
    assert_error(post(http, fake, BG, BG_BODY), 429, "Throttling")
    assert submit_ok(http, fake, BG, BG_BODY)
    fake.pending_polls = fake.running_polls = 0
    poll_to_end(http, fake, next(iter(fake.tasks)))
    fake.fail_next_submit(500, model=IMAGEEDIT_MODEL)                  # code defaults from the status
    assert submit_ok(http, fake, BG, BG_BODY)
    assert_error(post(http, fake, I2I, EXPAND_BODY), 500, "InternalError")
    fake.fail_next_submit(503)
    assert_error(post(http, fake, I2I, EXPAND_BODY), 503, "ModelUnavailable")
    fake.fail_next_submit(502, raw_body=b"<html>bad gateway</html>")
    response = post(http, fake, I2I, EXPAND_BODY)
    assert response.status_code == 502 and response.content == b"<html>bad gateway</html>"


def test_scripted_query_failures_do_not_count_as_polls(fake, http):
    task_id = submit_ok(http, fake, BG, BG_BODY)
    fake.fail_next_query(429, "Throttling")
    fake.fail_next_query(500)
    assert_error(get_task(http, fake, task_id), 429, "Throttling")
    assert_error(get_task(http, fake, task_id), 500, "InternalError")
    assert poll_to_end(http, fake, task_id)[0] == ["PENDING", "RUNNING", "SUCCEEDED"]


def test_query_rate_limit(fake, http):
    fake.query_rate_limit = 3
    for _ in range(3):
        assert get_task(http, fake, "x").status_code == 200
    assert_error(get_task(http, fake, "x"), 429, "Throttling.RateQuota")


def test_result_links_need_their_signature_and_downloads_can_fail(fake, http):
    fake.pending_polls = fake.running_polls = 0
    url = poll_to_end(http, fake, submit_ok(http, fake, BG, BG_BODY))[1]["output"]["results"][0]["url"]
    unsigned = http.get(url.split("?")[0], timeout=5)
    assert unsigned.status_code == 403 and b"SignatureDoesNotMatch" in unsigned.content
    fake.fail_next_download(403)
    assert http.get(url, timeout=5).status_code == 403
    assert fetch_png(http, url).size == fake.result_size


def test_scripted_delay_makes_client_timeouts_and_close_interrupts_it(http):
    with FakeDashScope() as fake:
        fake.delay_next(30, on="query")
        with pytest.raises(requests.ReadTimeout):
            get_task(http, fake, "x", timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 1      # closing woke the handler asleep for 30 s


# ------------------------------------------------------------------ concurrency accounting

def test_concurrency_limits_and_in_flight_accounting(fake, http):
    fake.pending_polls = fake.running_polls = 0
    first = submit_ok(http, fake, BG, BG_BODY)
    assert_error(post(http, fake, BG, BG_BODY), 429, "Throttling.RateQuota")
    poll_to_end(http, fake, first)
    assert submit_ok(http, fake, BG, BG_BODY)
    assert fake.max_in_flight[BACKGROUND_MODEL] == 1

    edits = [submit_ok(http, fake, I2I, EXPAND_BODY) for _ in range(2)]
    assert_error(post(http, fake, I2I, EXPAND_BODY), 429, "Throttling.RateQuota")
    for _ in range(5):
        submit_ok(http, fake, I2I, TRYON_BODY)
    assert_error(post(http, fake, I2I, TRYON_BODY), 429, "Throttling.RateQuota")
    assert fake.in_flight == {BACKGROUND_MODEL: 1, IMAGEEDIT_MODEL: 2, "aitryon-plus": 5}
    for task_id in edits:
        poll_to_end(http, fake, task_id)
    assert fake.in_flight[IMAGEEDIT_MODEL] == 0 and fake.max_in_flight[IMAGEEDIT_MODEL] == 2

    fake.enforce_concurrency = False
    for _ in range(3):
        submit_ok(http, fake, BG, BG_BODY)
    assert fake.max_in_flight[BACKGROUND_MODEL] == 4


def test_concurrent_submits_respect_the_limit(fake):
    def one(_):
        with requests.Session() as session:
            return post(session, fake, BG, BG_BODY).status_code
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(8)))
    assert sorted(codes) == [200] + [429] * 7
    assert fake.max_in_flight[BACKGROUND_MODEL] == 1 and len(fake.tasks) == 1


# ------------------------------------------------------------------ synchronous multimodal endpoint

def test_multimodal_success(fake, http):
    response = post(http, fake, MM, QWEN_BODY, async_header=False)
    assert response.status_code == 200, response.text
    answer = response.json()
    choice = answer["output"]["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert answer["usage"] == {"image_count": 1, "width": 640, "height": 512} and answer["request_id"]
    urls = [item["image"] for item in choice["message"]["content"]]
    assert len(urls) == 1 and all(fetch_png(http, u).size == (640, 512) for u in urls)
    assert "X-DashScope-Async" not in fake.submits[0].headers and not fake.tasks
    # the async header is tolerated; without a size (and inputs of unknown size) result_size stands in
    plain = {**QWEN_BODY, "model": "qwen-image-edit", "parameters": {}}
    answer = post(http, fake, MM, plain).json()
    assert answer["usage"] == {"image_count": 1, "width": fake.result_size[0], "height": fake.result_size[1]}
    assert fake.max_in_flight["qwen-image-edit-plus"] == 1 and fake.in_flight["qwen-image-edit-plus"] == 0


def _qwen(content=None, **parameters):
    body = copy.deepcopy(QWEN_BODY)
    if content is not None:
        body["input"]["messages"][0]["content"] = content
    body["parameters"] = parameters
    return body


IMG, TXT = {"image": "https://bucket.example/a.jpg"}, {"text": "make it blue"}


@pytest.mark.parametrize("body,hint", [
    (_qwen([TXT]), "1 to 3 images"),
    (_qwen([IMG] * 4 + [TXT]), "1 to 3 images"),
    (_qwen([IMG]), "one text"),
    (_qwen([IMG, TXT, TXT]), "one text"),
    (_qwen([IMG, {"video": "x"}, TXT]), "content item"),
    (_qwen([IMG, {"text": "x" * 801}]), "800"),
    (_qwen(n=7), "n"),
    (_qwen(size="100*100"), "size"),
    ({**_qwen(), "model": "qwen-image-edit", "parameters": {"n": 2}}, "n"),
    ({**_qwen(), "model": "qwen-image-edit", "parameters": {"size": "1024*1024"}}, "not supported"),
    (_qwen(n=2, size="1024*1024"), "only when n is 1"),
    ({**_qwen(), "input": {"messages": []}}, "exactly one message"),
])
def test_multimodal_validation(fake, http, body, hint):
    assert_error(post(http, fake, MM, body, async_header=False), 400, "InvalidParameter", hint)


def test_multimodal_scripted_failures(fake, http):
    fake.fail_next_submit(400, "DataInspectionFailed", model="qwen-image-edit-plus")
    fake.fail_next_submit(429, "Throttling.RateQuota")
    assert_error(post(http, fake, MM, QWEN_BODY, async_header=False), 400, "DataInspectionFailed")
    assert_error(post(http, fake, MM, QWEN_BODY, async_header=False), 429, "Throttling.RateQuota")
    assert post(http, fake, MM, QWEN_BODY, async_header=False).status_code == 200


def test_multimodal_calls_in_flight_together(fake):
    fake.delay_next(0.3, on="submit", times=2)
    barrier = threading.Barrier(2)

    def one(_):
        barrier.wait()
        with requests.Session() as session:
            return post(session, fake, MM, QWEN_BODY, async_header=False).status_code
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(one, range(2))) == [200, 200]
    assert fake.max_in_flight["qwen-image-edit-plus"] == 2 and fake.in_flight["qwen-image-edit-plus"] == 0


# ------------------------------------------------------------------ issue #20: families, regions, shapes, expiry

WAN25_BODY = {"model": "wan2.5-i2i-preview", "input": {"prompt": "extend", "images": ["https://bucket.example/a.jpg"]},
              "parameters": {"n": 1, "size": "1024*1024", "prompt_extend": False, "watermark": False}}
WAN27_BODY = {"model": "wan2.7-image", "input": {"messages": [{"role": "user", "content": [
    {"image": "https://bucket.example/a.jpg"}, {"text": "extend"}]}]}, "parameters": {"n": 1, "watermark": False}}


@pytest.mark.parametrize("path,body,hint", [
    (I2I, {**WAN25_BODY, "parameters": {"size": "512*512"}}, "out of range"),
    (I2I, {**WAN25_BODY, "parameters": {"size": "2000*400"}}, "out of range"),
    (I2I, {**WAN25_BODY, "parameters": {"n": 5}}, "n"),
    (I2I, {**WAN25_BODY, "input": {"prompt": "x"}}, "input.images"),
    (I2I, {**WAN25_BODY, "input": {"images": ["https://bucket.example/a.jpg"]}}, "prompt"),
    (MM, {**WAN27_BODY, "parameters": {"size": "4096*4096"}}, "out of range"),
    (MM, {**WAN27_BODY, "parameters": {"prompt_extend": False}}, "not supported"),
    (MM, {**WAN27_BODY, "parameters": {"n": 5}}, "n"),
])
def test_the_current_families_are_checked_as_documented(fake, http, path, body, hint):
    assert_error(post(http, fake, path, body, async_header=path == I2I), 400, "InvalidParameter", hint)


def test_the_output_takes_the_aspect_of_the_last_image_at_the_familys_total(fake, http):
    fake.input_sizes.update({"https://bucket.example/tall.jpg": (300, 600), "https://bucket.example/wide.jpg": (800, 400)})
    body = _qwen([{"image": "https://bucket.example/tall.jpg"}, {"image": "https://bucket.example/wide.jpg"}, TXT])
    answer = post(http, fake, MM, body, async_header=False).json()
    width, height = answer["usage"]["width"], answer["usage"]["height"]
    assert width == 2 * height and abs(width * height - 1024 * 1024) < 3000


def test_wanx_expand_grows_the_input_by_its_scales(fake, http):
    fake.input_sizes["https://bucket.example/in.jpg"] = (200, 100)
    body = {"model": IMAGEEDIT_MODEL, "input": {"function": "expand", "prompt": "p",
                                                "base_image_url": "https://bucket.example/in.jpg"},
            "parameters": {"n": 1, "top_scale": 1.5, "bottom_scale": 1.5, "left_scale": 2.0, "right_scale": 1.0}}
    task_id = post(http, fake, I2I, body).json()["output"]["task_id"]
    while fake.tasks[task_id].status != "SUCCEEDED":
        http.get(f"{fake.base_url}/tasks/{task_id}", headers={"Authorization": f"Bearer {fake.api_key}"})
    assert (fake.tasks[task_id].images[0].width, fake.tasks[task_id].images[0].height) == (300, 150)


def test_a_model_the_region_does_not_serve_is_refused(fake, http):
    fake.region = "ap-southeast-1"
    assert_error(post(http, fake, BG, BG_BODY), 404, "ModelNotFound", "region")
    assert post(http, fake, I2I, WAN25_BODY).status_code == 200


def test_result_links_expire_after_24_hours(fake, http):
    answer = post(http, fake, MM, QWEN_BODY, async_header=False).json()
    url = answer["output"]["choices"][0]["message"]["content"][0]["image"]
    assert http.get(url).status_code == 200
    fake.advance(86401)
    expired = http.get(url)
    assert expired.status_code == 403 and b"Request has expired." in expired.content
