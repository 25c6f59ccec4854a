"""GET /api/v1/jobs/{task_id} and GET /api/v1/jobs: any job of any operation, owner only, newest first, paginated."""
from __future__ import annotations

import base64
import json

import pytest

from imgapi.jobs import lifecycle

from imgapi.core import storage
from tests.support.seed_api import SEED_BODIES


def submit(api, token, operation) -> str:
    response = api.call("POST", f"/{operation}", token=token, json_body=SEED_BODIES[operation])
    assert response.status == 202, response.body
    return response.json()["task_id"]


def test_a_pending_job_view(api, alice, keyed):
    task_id = submit(api, alice, "expand")
    response = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice)
    assert response.status == 200
    job = response.json()
    assert {k: job[k] for k in ("task_id", "status", "status_url", "operation", "engine", "results", "error")} == {
        "task_id": task_id, "status": "pending", "status_url": f"/api/v1/jobs/{task_id}", "operation": "expand",
        "engine": "dashscope", "results": [], "error": None}
    assert job["created_at"] and job["started_at"] is None and job["params"]["top_scale"] == 2.0
    assert "dashscope" not in job


def test_a_completed_job_lists_presigned_urls_of_its_results(api, alice, keyed):
    task_id = submit(api, alice, "fix")
    key = storage.result_key("alice", task_id, "png", index=0)
    storage.put_object(key, b"\x89PNG...", "image/png")
    job = lifecycle.claim(task_id, 1)
    lifecycle.record_details(task_id, 1, "dashscope", {"model": "wanx2.1-imageedit", "task_id": "ds-1", "request_id": "rq-1",
                                                  "usage": {"image_count": 1}, "internal": "not shown"})
    lifecycle.complete(task_id, 1, [{"key": key, "index": 0, "content_type": "image/png", "size_bytes": 8, "width": 3, "height": 2}])
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert job and view["status"] == "completed" and view["finished_at"]
    (result,) = view["results"]
    assert {k: result[k] for k in ("width", "height", "content_type")} == {"width": 3, "height": 2, "content_type": "image/png"}
    assert key in result["url"] and "X-Amz-Expires=900" in result["url"]
    assert view["dashscope"] == {"model": "wanx2.1-imageedit", "task_id": "ds-1", "request_id": "rq-1",
                                 "usage": {"image_count": 1}}


def test_a_failed_job_has_its_error(api, alice, keyed):
    task_id = submit(api, alice, "fix")
    lifecycle.fail(task_id, "DashScope rejected the request: bad URL (InvalidURL)", code="InvalidURL")
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "failed" and view["error"] == {"message": "DashScope rejected the request: bad URL (InvalidURL)",
                                                            "code": "InvalidURL"}


def test_any_operations_job_can_be_followed_there_including_combo(api, alice):
    from tests.support.images import portrait_png

    response = api.call("POST", "/api/v1/upscale/combo", token=alice, files={"file": ("a.png", portrait_png(40, 40), "image/png")})
    task_id = response.json()["task_id"]
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["operation"] == "combo" and view["params"]["enhance_level"] == "medium"


def test_another_users_job_is_403_and_an_unknown_one_404(api, alice, bob, keyed):
    task_id = submit(api, alice, "fix")
    assert api.call("GET", f"/api/v1/jobs/{task_id}", token=bob).status == 403
    missing = api.call("GET", f"/api/v1/jobs/{lifecycle.new_task_id()}", token=alice)
    assert missing.status == 404 and missing.json()["code"] == "task_not_found"
    assert api.call("GET", f"/api/v1/jobs/{task_id}").status == 401
    assert api.call("GET", "/api/v1/jobs").status == 401


def _list(api, token, query=""):
    response = api.call("GET", "/api/v1/jobs", token=token, query=query)
    assert response.status == 200, response.body
    return response.json()


def test_the_list_is_ones_own_jobs_newest_first_in_pages(api, alice, bob, keyed):
    mine = [submit(api, alice, op) for op in ("fix", "expand", "change_bg", "fix", "remove_bg")]
    submit(api, bob, "fix")
    everything = _list(api, alice)
    assert [j["task_id"] for j in everything["jobs"]] == mine[::-1] and everything["next_token"] is None
    seen, token, pages = [], None, 0
    while True:
        page = _list(api, alice, "limit=2" + (f"&next_token={token}" if token else ""))
        seen += [j["task_id"] for j in page["jobs"]]
        pages += 1
        token = page["next_token"]
        if not token:
            break
    assert seen == mine[::-1] and pages == 3


def test_the_list_filters_by_status_and_operation(api, alice, keyed):
    fixes = [submit(api, alice, "fix") for _ in range(3)]
    others = [submit(api, alice, op) for op in ("expand", "change_cloth")]
    lifecycle.fail(fixes[1], "no", code="x")
    assert [j["task_id"] for j in _list(api, alice, "operation=fix")["jobs"]] == fixes[::-1]
    assert [j["task_id"] for j in _list(api, alice, "status=failed")["jobs"]] == [fixes[1]]
    assert [j["task_id"] for j in _list(api, alice, "status=pending&operation=fix")["jobs"]] == [fixes[2], fixes[0]]
    # A filtered page is full even when the jobs it skips come first.
    page = _list(api, alice, "operation=fix&limit=2")
    assert [j["task_id"] for j in page["jobs"]] == [fixes[2], fixes[1]] and page["next_token"]
    rest = _list(api, alice, f"operation=fix&limit=2&next_token={page['next_token']}")
    assert [j["task_id"] for j in rest["jobs"]] == [fixes[0]]
    assert [j["task_id"] for j in _list(api, alice, "status=pending")["jobs"]] == [*others[::-1], fixes[2], fixes[0]]


@pytest.mark.parametrize("query,word", [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
                                        ("status=done", "status"), ("operation=paint", "operation"),
                                        ("next_token=garbage!", "next_token")])
def test_bad_list_parameters_are_400(api, alice, query, word):
    response = api.call("GET", "/api/v1/jobs", token=alice, query=query)
    assert response.status == 400 and word in response.json()["error"]


def test_a_next_token_for_another_users_jobs_is_refused(api, alice, bob, keyed):
    submit(api, bob, "fix")
    submit(api, bob, "fix")
    token = _list(api, bob, "limit=1")["next_token"]
    key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert key["owner"] == "bob"
    response = api.call("GET", "/api/v1/jobs", token=alice, query=f"next_token={token}")
    assert response.status == 400 and response.json()["code"] == "bad_next_token"
