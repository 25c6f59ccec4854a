"""Saved background-removal configurations: CRUD, ownership, validation."""
from __future__ import annotations

import pytest


def test_create_list_read_delete(api, alice):
    created = api.call("POST", "/api/v1/configs", token=alice, json_body={
        "name": "portraits", "model": "u2net", "alpha_matting": True, "alpha_matting_erode_size": 15,
        "post_process_mask": True, "bgcolor": [255, 255, 255]})
    assert created.status == 201, created.body
    item = created.json()
    assert item["settings"]["bgcolor"] == [255, 255, 255, 255]
    assert item["settings"]["alpha_matting_foreground_threshold"] == 240  # default kept
    config_id = item["config_id"]
    listed = api.call("GET", "/api/v1/configs", token=alice).json()["configs"]
    assert [c["config_id"] for c in listed] == [config_id]
    assert api.call("GET", f"/api/v1/configs/{config_id}", token=alice).json() == item
    assert api.call("DELETE", f"/api/v1/configs/{config_id}", token=alice).status == 204
    assert api.call("GET", f"/api/v1/configs/{config_id}", token=alice).status == 404
    assert api.call("GET", "/api/v1/configs", token=alice).json()["configs"] == []


def test_configs_are_private_to_their_owner(api, alice, bob):
    config_id = api.call("POST", "/api/v1/configs", token=alice, json_body={"name": "a"}).json()["config_id"]
    assert api.call("GET", "/api/v1/configs", token=bob).json()["configs"] == []
    assert api.call("GET", f"/api/v1/configs/{config_id}", token=bob).status == 403
    assert api.call("DELETE", f"/api/v1/configs/{config_id}", token=bob).status == 403
    assert api.call("GET", f"/api/v1/configs/{config_id}", token=alice).status == 200


def test_a_model_the_deployment_does_not_have_is_refused_when_saved(api, alice):
    response = api.call("POST", "/api/v1/configs", token=alice, json_body={"model": "isnet-anime"})
    assert response.status == 400
    assert response.json()["code"] == "model_unavailable" and "u2net" in response.json()["error"]


@pytest.mark.parametrize("body", [
    {"alpha_matting": "sometimes"},
    {"alpha_matting_foreground_threshold": 300},
    {"alpha_matting_erode_size": -1},
    {"alpha_matting_background_threshold": 1.5},
    {"bgcolor": "red"},
    {"bgcolor": [1, 2]},
    {"name": "x" * 101},
    {"colour": "#fff"},
])
def test_invalid_settings_are_400(api, alice, body):
    response = api.call("POST", "/api/v1/configs", token=alice, json_body=body)
    assert response.status == 400, body
    assert response.json()["error"]


def test_malformed_json_is_400(api, alice):
    response = api.call("POST", "/api/v1/configs", token=alice, body=b"{not json",
                        headers={"content-type": "application/json"})
    assert response.status == 400 and "JSON" in response.json()["error"]
    response = api.call("POST", "/api/v1/configs", token=alice, json_body=[1, 2])
    assert response.status == 400


def test_configs_need_a_token(api, stack):
    assert api.call("GET", "/api/v1/configs").status == 401
    assert api.call("POST", "/api/v1/configs", json_body={}).status == 401
