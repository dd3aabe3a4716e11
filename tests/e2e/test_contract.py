"""The HTTP contract of the README: languages, code sessions, OpenAPI, and every error they answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.fixtures_runs import open_session

# Clients hard-code these: a language id is the same on every install, forever.
LANGUAGE_IDS = {
    "bash": "cdabf35a-0d74-5420-bf6b-f13f05012a05",
    "c": "a7abc356-c5e5-5fd9-b289-56407e3fc8cd",
    "cpp": "bf7deeea-61ba-50e4-a071-a06cc1f52a32",
    "go": "273e0f1b-53d6-5d1c-8411-9685b6bf2324",
    "java": "160b0c9d-86e3-54a4-86a0-99e163372070",
    "javascript": "546ee95e-cab0-5a4e-995a-9f1bdfc6ddf1",
    "php": "0cb04e87-1e85-5ffd-83c7-f07aa5e7314b",
    "python": "7f29697a-65f9-5b97-bc34-cc0c4ffc4159",
    "ruby": "ea167f6a-b940-5850-9f4b-84cd5aab309a",
    "rust": "916cf0e7-e4de-509e-a29d-1240a90b8143",
    "typescript": "e65ba878-14c0-5daf-9492-e5c156671474",
}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
GARBAGE_IDS = ("not-a-uuid", "12345", "%20", "7f29697a-65f9-5b97-bc34")
SUMMARY_FIELDS = {"id", "name", "runtime", "version", "default_time_limit_ms", "default_memory_mb"}
MAX_SOURCE = 256 * 1024


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error is JSON {error, code, details} with the right status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body


async def test_languages_list_eleven_with_stable_ids(client: httpx.AsyncClient) -> None:
    response = await client.get("/languages")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 11 == len(body["languages"])
    for language in body["languages"]:
        assert set(language) == SUMMARY_FIELDS, language
        assert language["version"], language
        assert 100 <= language["default_time_limit_ms"] <= 60000
        assert 32 <= language["default_memory_mb"] <= 2048
    assert {lang["id"] for lang in body["languages"]} == set(LANGUAGE_IDS.values())


@pytest.mark.parametrize("key", sorted(LANGUAGE_IDS))
async def test_language_by_id_key_and_name(client: httpx.AsyncClient, key: str) -> None:
    by_id = await client.get(f"/languages/{LANGUAGE_IDS[key]}")
    assert by_id.status_code == 200, by_id.text
    language = by_id.json()
    assert language["id"] == LANGUAGE_IDS[key]
    assert language["key"] == key
    assert language["template_code"].strip()
    assert language["file_name"]
    assert set(language) >= SUMMARY_FIELDS
    for alias in (key, language["name"], language["name"].upper(), LANGUAGE_IDS[key].upper()):
        again = await client.get(f"/languages/{alias}")
        assert again.status_code == 200, (alias, again.text)
        assert again.json() == language


async def test_unknown_language_is_404(client: httpx.AsyncClient) -> None:
    for ref in (UNKNOWN_ID, "cobol"):
        assert_error(await client.get(f"/languages/{ref}"), 404, "not_found")


async def test_session_lifecycle(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, LANGUAGE_IDS["python"], "print(1)")
    got = await client.get(f"/code-sessions/{session_id}")
    assert got.status_code == 200
    session = got.json()
    python = (await client.get("/languages/python")).json()
    assert session == {
        "session_id": session_id,
        "status": "ACTIVE",
        "language_id": python["id"],
        "language_name": python["name"],
        "source_code": "print(1)",
        "runtime": python["runtime"],
        "version": python["version"],
        "created_at": session["created_at"],
        "updated_at": session["created_at"],
        "revision": 1,
    }

    saved = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "print(2)"})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"session_id": session_id, "status": "ACTIVE", "revision": 2}
    updated = (await client.get(f"/code-sessions/{session_id}")).json()
    assert updated["source_code"] == "print(2)"
    assert updated["created_at"] == session["created_at"]
    assert updated["updated_at"] > session["updated_at"]

    closed = await client.patch(f"/code-sessions/{session_id}/close")
    assert closed.status_code == 200
    assert closed.json() == {"session_id": session_id, "status": "INACTIVE", "revision": 3}
    after = (await client.get(f"/code-sessions/{session_id}")).json()
    assert after["status"] == "INACTIVE"
    assert after["source_code"] == "print(2)"
    # Closing twice is harmless: the answer is the same.
    again = await client.patch(f"/code-sessions/{session_id}/close")
    assert (again.status_code, again.json()) == (200, closed.json())


async def test_session_by_language_name(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "Ruby")
    session = (await client.get(f"/code-sessions/{session_id}")).json()
    assert session["language_id"] == LANGUAGE_IDS["ruby"]
    template = (await client.get("/languages/ruby")).json()["template_code"]
    assert session["source_code"] == template


async def test_closed_session_refuses_writes(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print('kept')")
    assert (await client.patch(f"/code-sessions/{session_id}/close")).status_code == 200
    patch = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "print(3)"})
    assert_error(patch, 409, "session_closed")
    assert_error(await client.post(f"/code-sessions/{session_id}/run"), 409, "session_closed")
    session = (await client.get(f"/code-sessions/{session_id}")).json()
    assert session["source_code"] == "print('kept')"
    listed = (await client.get(f"/code-sessions/{session_id}/executions")).json()
    assert listed["executions"] == []


@pytest.mark.parametrize("ref", [UNKNOWN_ID, *GARBAGE_IDS])
async def test_unknown_ids_are_404_everywhere(client: httpx.AsyncClient, ref: str) -> None:
    calls = [
        client.get(f"/code-sessions/{ref}"),
        client.patch(f"/code-sessions/{ref}", json={"source_code": "x"}),
        client.patch(f"/code-sessions/{ref}/close"),
        client.get(f"/code-sessions/{ref}/executions"),
        client.post(f"/code-sessions/{ref}/run"),
        client.get(f"/executions/{ref}"),
        client.get(f"/executions/{ref}/events"),
        client.get(f"/code-sessions/{ref}/events"),
    ]
    for call in calls:
        response = await call
        assert_error(response, 404, "not_found")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no-such-thing"), 404)
    assert_error(await client.delete("/languages"), 405)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b" \n", 400),
        (b"{", 400),
        (b"not json", 400),
        (b'{"language_id": "python",}', 400),
        (b"[]", 422),
        (b'"python"', 422),
        (b"{}", 422),
        (b'{"language_id": 7}', 422),
        (b'{"language_id": null}', 422),
        (b'{"language_id": "python", "source_code": 1}', 422),
        (b'{"language_id": "python", "colour": "red"}', 422),
        (b'{"language_id": "cobol"}', 422),
        (b'{"language_id": "00000000-0000-4000-8000-000000000000"}', 422),
    ],
)
async def test_create_session_rejects_bad_bodies(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post(
        "/code-sessions", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, status, "bad_request" if status == 400 else "invalid_input")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"{source_code: 1}", 400),
        (b"{}", 422),
        (b'{"source_code": null}', 422),
        (b'{"source_code": ["print(1)"]}', 422),
        (b'{"source_code": "x", "language_id": "c"}', 422),
    ],
)
async def test_autosave_rejects_bad_bodies(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    session_id = await open_session(client, "python", "print('before')")
    response = await client.patch(
        f"/code-sessions/{session_id}", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, status, "bad_request" if status == 400 else "invalid_input")
    unchanged = (await client.get(f"/code-sessions/{session_id}")).json()
    assert unchanged["source_code"] == "print('before')"


async def test_source_code_limit_is_256_kib(client: httpx.AsyncClient) -> None:
    at_limit = "#" * MAX_SOURCE
    session_id = await open_session(client, "python", at_limit)
    assert (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] == at_limit

    too_big = "#" * (MAX_SOURCE + 1)
    created = await client.post(
        "/code-sessions", json={"language_id": "python", "source_code": too_big}
    )
    assert_error(created, 413, "too_large")
    saved = await client.patch(f"/code-sessions/{session_id}", json={"source_code": too_big})
    assert_error(saved, 413, "too_large")
    # Multi-byte characters count as bytes, not characters.
    wide = "é" * (MAX_SOURCE // 2 + 1)
    assert_error(
        await client.patch(f"/code-sessions/{session_id}", json={"source_code": wide}), 413
    )
    # Far beyond any limit, the server refuses the body itself, still in the error format.
    huge = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "#" * (8 << 20)})
    assert_error(huge, 413)
    assert (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] == at_limit


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    expected = {
        "/health": {"get"},
        "/health/ready": {"get"},
        "/languages": {"get"},
        "/languages/{language_id}": {"get"},
        "/code-sessions": {"post"},
        "/code-sessions/{session_id}": {"get", "patch"},
        "/code-sessions/{session_id}/run": {"post"},
        "/code-sessions/{session_id}/executions": {"get"},
        "/code-sessions/{session_id}/close": {"patch"},
        "/executions/{execution_id}": {"get"},
        "/executions/{execution_id}/events": {"get"},
        "/code-sessions/{session_id}/events": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, sorted(paths[path]))


async def test_arguments_out_of_bounds_are_refused(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(1)")
    url = f"/code-sessions/{session_id}/run"
    assert_error(await client.post(url, json={"args": ["a\x00b"]}), 422, "invalid_input")
    assert_error(await client.post(url, json={"args": ["x"] * 65}), 422, "invalid_input")
    assert_error(await client.post(url, json={"args": ["x" * 20000]}), 413, "too_large")
    assert_error(await client.post(url, json={"args": "not a list"}), 422, "invalid_input")


@pytest.mark.parametrize("limit", ["abc", "1.5", "JSON", "malformed", "undecodable"])
async def test_a_limit_that_is_no_integer_is_invalid_input_whatever_it_says(
    client: httpx.AsyncClient, limit: str
) -> None:
    # The code of a refused parameter once depended on words in the URL ("JSON" made a 400).
    session_id = await open_session(client, "python")
    for path in (f"/code-sessions/{session_id}/executions", "/dead-letters"):
        response = await client.get(path, params={"limit": limit})
        body = assert_error(response, 422, "invalid_input")
        assert body["details"]["errors"][0]["key"] == "limit", body


@pytest.mark.parametrize("value", [b"\xb2", b'"\xb9"', b"W/\xb3", b"abc", b'"-1"'])
async def test_if_match_that_names_no_revision_is_invalid_input(
    client: httpx.AsyncClient, value: bytes
) -> None:
    # Superscript digits are digits to str.isdigit() but not to int(): once a 500.
    session_id = await open_session(client, "python", "print('kept')")
    saved = await client.patch(
        f"/code-sessions/{session_id}", json={"source_code": "x"}, headers={b"If-Match": value}
    )
    assert_error(saved, 422, "invalid_input")
    closed = await client.patch(f"/code-sessions/{session_id}/close", headers={b"If-Match": value})
    assert_error(closed, 422, "invalid_input")
    session = (await client.get(f"/code-sessions/{session_id}")).json()
    assert (session["status"], session["source_code"]) == ("ACTIVE", "print('kept')")


async def test_closing_a_closed_session_still_checks_if_match(client: httpx.AsyncClient) -> None:
    # Found by the fuzzer: a malformed If-Match was ignored (200) once the session was closed.
    session_id = await open_session(client, "python")
    first = await client.patch(f"/code-sessions/{session_id}/close")
    assert first.status_code == 200, first.text
    malformed = await client.patch(f"/code-sessions/{session_id}/close", headers={"If-Match": "W"})
    assert_error(malformed, 422, "invalid_input")
    again = await client.patch(f"/code-sessions/{session_id}/close", headers={"If-Match": '"2"'})
    assert (again.status_code, again.json()) == (200, first.json())


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b'{"time_limit_ms": "5000"}', 422),  # strict: a number in a string is no number
        (b'{"memory_mb": 1.5}', 422),
        (b'{"stdin": 42}', 422),
        (b'{"tty": true}', 422),
        (b"[]", 422),
    ],
)
async def test_run_options_are_decoded_strictly(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    session_id = await open_session(client, "python", "print(1)")
    response = await client.post(
        f"/code-sessions/{session_id}/run",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_error(response, status, "bad_request" if status == 400 else "invalid_input")
    listed = (await client.get(f"/code-sessions/{session_id}/executions")).json()
    assert listed["executions"] == []


async def test_a_run_and_a_requeue_may_have_no_body(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(1)")
    for content in (b"", b"  \n"):
        response = await client.post(f"/code-sessions/{session_id}/run", content=content)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "QUEUED"
    requeue = f"/dead-letters/{UNKNOWN_ID}/requeue"
    assert_error(await client.post(requeue), 404, "not_found")
    assert_error(await client.post(requeue, content=b"{"), 400, "bad_request")
    assert_error(await client.post(requeue, json={"reason": 1}), 422, "invalid_input")
