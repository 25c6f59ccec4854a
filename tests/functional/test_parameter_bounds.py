"""The other side of test_parameters.py's refusals: values at the edges of each bound, and text where text is how
they come, are accepted. (Its own module: test_parameters.py's shared stack must end with nothing stored.)"""
from __future__ import annotations

import pytest

UUID = "00000000-0000-4000-8000-00000000f00d"  # well-formed, and no job's
ACCEPTED = [
    pytest.param("POST", "/expand", {"json_body": {"base_image_url": "https://e.com/a.jpg", "top_scale": 1, "n": 4,
                                                   "left_scale": 2.0, "wait": 0}}, 202, id="expand json bounds"),
    pytest.param("POST", "/expand", {"form": {"base_image_url": "https://e.com/a.jpg", "top_scale": "1.0",
                                              "n": "4.0", "right_scale": "2e0"}}, 202, id="expand form numbers as text"),
    pytest.param("POST", "/fix", {"query": "wait=0&engine=local", "json_body": {"base_image_url": "HTTPS://e.com/a.jpg",
                                                                               "upscale_factor": 4}}, 202, id="fix query"),
    pytest.param("POST", "/remove_bg", {"json_body": {"image_url": "https://e.com/a.jpg", "config": {
        "bgcolor": [0, 0, 0], "alpha_matting_erode_size": 40, "alpha_matting": True}}}, 202, id="remove_bg inline config"),
    pytest.param("GET", "/api/v1/jobs", {"query": "limit=100&status=failed&operation=fix"}, 200, id="list at the limit"),
    pytest.param("GET", "/api/v1/jobs", {"query": "limit=1"}, 200, id="list one"),
    pytest.param("GET", f"/api/v1/jobs/{UUID.upper()}", {}, 404, id="an upper-case task id is the same id"),
]


@pytest.mark.parametrize("method,path,request_args,status", ACCEPTED)
def test_values_at_the_bounds_are_accepted(api, alice, keyed, method, path, request_args, status):
    response = api.call(method, path, token=alice, **request_args)
    assert response.status == status, response.body[:300]
    if response.status == 404:
        assert response.json()["code"] == "task_not_found"  # well-formed: looked up, not refused
