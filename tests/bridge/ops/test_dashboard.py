"""rq-dashboard at /rq: basic auth, the failed-jobs view holding a real failed push, actions."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis
from rq.registry import FailedJobRegistry

from bridge.app import create_app
from bridge.config import Settings
from bridge.delivery import jobs
from bridge.ops.dashboard import BasicAuth, flask_app, relative_location
from tests.pushes import KANAL_KEY, config, drain, failed_push, install

pytestmark = pytest.mark.anyio

PASSWORD = "dashboard-test-password"


@asynccontextmanager
async def dashboard(
    redis_url: str, password: str | None = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    env = {"REDIS_URL": redis_url, "DASHBOARD_USER": "ops"}
    if password:
        env["DASHBOARD_PASSWORD"] = password
    app = create_app(Settings.from_env(env), config())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            yield client


AUTH = ("ops", PASSWORD)


@pytest.fixture
def failed_job(redis_url: str, redis_client: redis.Redis) -> str:
    """A push Kanal refused with 422, in the failed registry."""
    return failed_push(redis_url, redis_client)


async def test_no_password_means_no_dashboard(redis_url: str, redis_client: redis.Redis) -> None:
    async with dashboard(redis_url, password=None) as client:
        for path in ("/rq", "/rq/", "/rq/0/view/jobs"):
            assert (await client.get(path, auth=AUTH)).status_code == 404


async def test_without_credentials_the_answer_is_a_challenge(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.get("/rq/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="kanal-bridge')
    assert "rq" not in response.text.lower().replace("required", "")


@pytest.mark.parametrize(
    "auth",
    [("ops", "wrong-password"), ("admin", PASSWORD), ("ops", ""), ("", PASSWORD)],
)
async def test_wrong_credentials_are_refused(
    redis_url: str, redis_client: redis.Redis, auth: tuple[str, str]
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.get("/rq/", auth=auth)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), ""],
)
def test_malformed_authorization_headers_are_refused(header: str) -> None:
    auth = BasicAuth(app=None, user="ops", password=PASSWORD)  # type: ignore[arg-type]
    assert not auth.authorized(header)


def test_a_colon_in_the_password_is_part_of_it() -> None:
    auth = BasicAuth(app=None, user="ops", password="a:b")  # type: ignore[arg-type]
    assert auth.authorized("Basic " + base64.b64encode(b"ops:a:b").decode())


async def test_the_failed_view_holds_a_real_failed_push(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    job_id = failed_job
    async with dashboard(redis_url) as client:
        page = await client.get("/rq/0/view/jobs/kanal/failed/8/asc/1", auth=AUTH)
        listing = await client.get("/rq/0/data/jobs/kanal/failed/8/asc/1.json", auth=AUTH)
        job = await client.get(f"/rq/0/data/job/{job_id}.json", auth=AUTH)
    assert page.status_code == 200
    assert "kanal" in page.text
    [row] = listing.json()["jobs"]
    assert row["id"] == job_id
    assert row["description"] == "push shop:orders:1001"
    assert "Kanal answered 422" in row["exc_info"]
    assert "customer.phone" in row["exc_info"]
    assert job.json()["status"] == "failed"
    assert KANAL_KEY not in listing.text + job.text


async def test_pages_link_their_assets_under_rq_and_the_assets_load(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with dashboard(redis_url) as client:
        home = await client.get("/rq", auth=AUTH, follow_redirects=True)
        assets = [
            part.split('"', 1)[0]
            for part in home.text.split('href="')[1:] + home.text.split('src="')[1:]
        ]
        static = [a for a in assets if "/static/" in a]
        loaded = [(await client.get(a, auth=AUTH)).status_code for a in static]
    assert home.status_code == 200
    assert static and all(a.startswith("/rq/static/") for a in static)
    assert set(loaded) == {200}


async def test_delete_and_empty_are_disabled(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    job_id = failed_job
    origin = {"Origin": "https://bridge"}
    async with dashboard(redis_url) as client:
        deleted = await client.post(f"/rq/job/{job_id}/delete", auth=AUTH, headers=origin)
        emptied = await client.post("/rq/queue/kanal/failed/empty", auth=AUTH, headers=origin)
    assert deleted.json() == {"status": "DISABLED"}
    assert emptied.json() == {"status": "DISABLED"}
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [job_id]


async def test_requeue_from_the_dashboard_pushes_the_record_again(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    job_id = failed_job
    async with dashboard(redis_url) as client:
        response = await client.post(
            f"/rq/job/{job_id}/requeue", auth=AUTH, headers={"Origin": "https://bridge"}
        )
    assert response.json() == {"status": "OK"}
    kanal = install(redis_client)  # Kanal accepts this time
    drain(redis_client)
    assert len(kanal.requests) == 1
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0
    assert redis_client.hget("kb:rec:7:orders:1001", "status") == b"delivered"


async def test_changes_from_another_site_are_refused(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    job_id = failed_job
    async with dashboard(redis_url) as client:
        cross = await client.post(
            f"/rq/job/{job_id}/requeue", auth=AUTH, headers={"Origin": "https://evil.example"}
        )
        by_get = await client.get("/rq/requeue/kanal", auth=AUTH)
    assert cross.status_code == 403
    assert by_get.status_code == 403
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [job_id]


# The same-origin guard, however the path is spelled (issue 11: `GET /rq//requeue/kanal`
# requeued every failed job).


@pytest.mark.parametrize(
    "path",
    [
        "/rq//requeue/kanal",
        "/rq/%2Frequeue/kanal",
        "/rq/%2frequeue%2Fkanal",
        "/rq///requeue//kanal",
        "/rq/requeue/kanal/",
        "/rq/REQUEUE/kanal",
        "/rq/Requeue/Kanal/",
        "/rq/requeue/kanal?x=1",
    ],
)
async def test_no_spelling_of_requeue_all_works_by_get(
    redis_url: str, redis_client: redis.Redis, failed_job: str, path: str
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.get(path, auth=AUTH, follow_redirects=True)
        head = await client.head(path, auth=AUTH)
    assert response.status_code in (403, 404, 405), response.text
    assert head.status_code in (403, 404, 405)
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [failed_job]


def test_views_that_change_state_refuse_get_even_past_the_guard(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    app = flask_app(redis_url)
    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:x").decode()}
    for path in ("/requeue/kanal", f"/job/{failed_job}/requeue"):
        assert client.get(path, headers=auth).status_code == 405, path
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [failed_job]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin, no Referer: not the dashboard's own page
        {"Origin": "null"},
        {"Referer": "https://evil.example/rq/"},
        {"Origin": "https://bridge.evil.example"},
        {"Origin": "https://evil.example", "Referer": "https://bridge/rq/"},
    ],
)
async def test_a_post_must_come_from_the_dashboards_own_pages(
    redis_url: str, redis_client: redis.Redis, failed_job: str, headers: dict[str, str]
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.post("/rq/requeue/kanal", auth=AUTH, headers=headers)
    assert response.status_code == 403
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [failed_job]


async def test_a_post_with_a_same_host_referer_and_no_origin_is_allowed(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.post(
            "/rq/requeue/kanal", auth=AUTH, headers={"Referer": "https://bridge/rq/0/view/jobs"}
        )
    assert response.json() == {"status": "OK", "count": 1}


@pytest.mark.parametrize("path", ["/rq", "/rq/0"])
async def test_redirects_never_echo_the_host_header(
    redis_url: str, redis_client: redis.Redis, path: str
) -> None:
    async with dashboard(redis_url) as client:
        response = await client.get(path, auth=AUTH, headers={"Host": "evil.example"})
    assert 300 <= response.status_code < 400
    location = response.headers["location"]
    assert location.startswith("/rq/") and "evil" not in location


@pytest.mark.parametrize(
    ("location", "relative"),
    [
        ("http://evil.example/rq/0/", "/rq/0/"),
        ("https://bridge/rq/?a=1#x", "/rq/?a=1#x"),
        ("//evil.example/rq/", "/rq/"),
        ("/rq/", "/rq/"),
    ],
)
def test_locations_lose_their_host(location: str, relative: str) -> None:
    assert relative_location(location) == relative
