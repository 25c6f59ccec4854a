"""API keys (issue #17): created with a login token, shown once, stored as a hash, listed without the key, revoked at
once; `X-Api-Key` stands in for `Authorization: Bearer` on every authenticated route, as the key's owner."""
from __future__ import annotations

import hashlib
import json
import re
import uuid

import boto3
import pytest

from imgapi.auth import users
from imgapi.auth.tokens import issue_token
from imgapi.core.settings import get_settings


def _create(api, token, name="backend"):
    answer = api.call("POST", "/api/v1/api-keys", token=token, json_body={"name": name})
    assert answer.status == 201, answer.body
    return answer.json()


def _table_items():
    return boto3.resource("dynamodb").Table(get_settings().api_keys_table).scan()["Items"]


def test_a_created_key_is_shown_once_with_256_random_bits_and_only_its_hash_is_stored(api, alice):
    created = _create(api, alice, "shop")
    assert set(created) == {"id", "name", "key", "prefix", "created_at"}
    assert created["name"] == "shop" and uuid.UUID(created["id"])
    assert re.fullmatch(r"imgapi_[A-Za-z0-9_-]{43}", created["key"])  # 32 bytes of token_urlsafe
    assert created["key"].startswith(created["prefix"]) and len(created["prefix"]) < 20
    assert _create(api, alice)["key"] != created["key"]
    stored = json.dumps(_table_items(), default=str)
    assert created["key"] not in stored and created["key"][len("imgapi_"):] not in stored
    assert hashlib.sha256(created["key"].encode()).hexdigest() in stored


def test_the_listing_never_carries_the_key_and_notes_its_last_use(api, alice):
    created = _create(api, alice)
    listed = api.call("GET", "/api/v1/api-keys", token=alice).json()["keys"]
    assert listed == [{"id": created["id"], "name": "backend", "prefix": created["prefix"],
                       "created_at": created["created_at"], "last_used_at": None}]
    assert created["key"] not in json.dumps(listed)
    assert api.call("GET", "/api/v1/jobs", headers={"x-api-key": created["key"]}).status == 200
    [used] = api.call("GET", "/api/v1/api-keys", token=alice).json()["keys"]
    assert used["last_used_at"] is not None


def test_a_key_acts_as_its_owner_on_any_route_and_sees_only_the_owners_things(api, alice, bob):
    key = _create(api, alice)["key"]
    config = api.call("POST", "/api/v1/configs", headers={"x-api-key": key}, json_body={"name": "by-key"})
    assert config.status == 201 and config.json()["owner"] == "alice"
    bobs = api.call("POST", "/api/v1/configs", token=bob, json_body={"name": "bobs"}).json()
    other = api.call("GET", f"/api/v1/configs/{bobs['config_id']}", headers={"x-api-key": key})
    assert other.status == 403 and other.json()["code"] == "config_forbidden"  # as with alice's token
    mine = api.call("GET", "/api/v1/configs", headers={"x-api-key": key}).json()["configs"]
    assert [c["name"] for c in mine] == ["by-key"]


def test_revoking_a_key_refuses_it_at_once(api, alice):
    created = _create(api, alice)
    assert api.call("GET", "/api/v1/configs", headers={"x-api-key": created["key"]}).status == 200
    assert api.call("DELETE", f"/api/v1/api-keys/{created['id']}", token=alice).status == 204
    refused = api.call("GET", "/api/v1/configs", headers={"x-api-key": created["key"]})
    assert refused.status == 401 and refused.json()["code"] == "invalid_api_key"
    assert api.call("GET", "/api/v1/api-keys", token=alice).json()["keys"] == []
    assert api.call("DELETE", f"/api/v1/api-keys/{created['id']}", token=alice).status == 404


def test_another_users_key_id_is_not_found_and_stays_valid(api, alice, bob):
    created = _create(api, alice)
    answer = api.call("DELETE", f"/api/v1/api-keys/{created['id']}", token=bob)
    assert answer.status == 404 and answer.json()["code"] == "key_not_found"
    assert api.call("GET", "/api/v1/api-keys", token=bob).json()["keys"] == []
    assert api.call("GET", "/api/v1/configs", headers={"x-api-key": created["key"]}).status == 200


@pytest.mark.parametrize("key", ["imgapi_" + "A" * 43, "not-a-key", "imgapi_"])
def test_unknown_keys_are_401(api, stack, key):
    answer = api.call("GET", "/api/v1/jobs", headers={"x-api-key": key})
    assert answer.status == 401 and answer.json()["code"] == "invalid_api_key"


def test_a_deleted_users_keys_stop_working(api, alice):
    key = _create(api, alice)["key"]
    users.delete_user("alice")
    assert api.call("GET", "/api/v1/jobs", headers={"x-api-key": key}).status == 401


def test_a_key_is_not_accepted_in_the_query_string(api, alice):
    key = _create(api, alice)["key"]  # keys travel in a header only: ?token= is for login tokens
    assert api.call("GET", "/api/v1/jobs", query=f"token={key}").status == 401


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x" * 101},
                                  {"name": "ok", "scope": "all"}, ["name"]])
def test_bad_bodies_are_400_and_store_nothing(api, alice, body):
    answer = api.call("POST", "/api/v1/api-keys", token=alice, json_body=body)
    assert answer.status == 400, answer.body
    assert _table_items() == []


def test_key_routes_need_a_login(api, stack):
    assert api.call("POST", "/api/v1/api-keys", json_body={"name": "x"}).status == 401
    assert api.call("GET", "/api/v1/api-keys").status == 401
    assert api.call("DELETE", f"/api/v1/api-keys/{uuid.uuid4()}").status == 401
    assert api.call("DELETE", "/api/v1/api-keys/not-a-uuid", token=None).status == 401


def test_a_malformed_key_id_is_400(api, alice):
    answer = api.call("DELETE", "/api/v1/api-keys/not-a-uuid", token=alice)
    assert answer.status == 400 and answer.json()["code"] == "bad_key_id"


def test_at_most_25_keys_a_user(api, alice):
    for n in range(25):
        _create(api, alice, f"k{n}")
    answer = api.call("POST", "/api/v1/api-keys", token=alice, json_body={"name": "one-more"})
    assert answer.status == 400 and answer.json()["code"] == "too_many_keys"


def test_a_deleted_accounts_keys_do_not_come_back_with_a_new_account_of_the_same_name(api, stack):
    users.create_user("carol", "carol-password")
    token = issue_token("carol")[0]
    created = api.call("POST", "/api/v1/api-keys", token=token, json_body={"name": "ci"})
    assert created.status == 201, created.body
    key = created.json()["key"]
    assert api.call("GET", "/api/v1/jobs", headers={"x-api-key": key}).status == 200
    users.delete_user("carol")
    users.create_user("carol", "another-password")
    answer = api.call("GET", "/api/v1/jobs", headers={"x-api-key": key})
    assert answer.status == 401 and answer.json()["code"] == "invalid_api_key"
    fresh = issue_token("carol")[0]
    assert api.call("GET", "/api/v1/api-keys", token=fresh).json()["keys"] == []
