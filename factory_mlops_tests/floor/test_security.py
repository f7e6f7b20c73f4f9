"""Every refusal of the shop-floor page, proven: login, sessions, plants, roles, CSRF, origin."""

from __future__ import annotations

import re

import sqlalchemy as sa

from factory_mlops.floor._users import sessions_table, users_table
from factory_mlops_tests.floor.conftest import login, page_csrf


def _post(client, plant, pid, verdict="wrong", **extra):
    data = {"prediction_id": pid, "verdict": verdict, **extra}
    return client.post(f"/plants/{plant}/feedback", data=data)


def test_login_with_right_password_sets_a_strict_httponly_cookie_and_the_database_keeps_only_hashes(
    floor,
):
    client = floor.client()
    r = login(client, "ana", floor.passwords["ana"])
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("fm_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with floor.store.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(sessions_table))]
        hashes = [r[0] for r in conn.execute(sa.select(users_table.c.password_hash))]
    assert stored and all(
        token not in str(row) for row in stored
    )  # the token is not in the database
    assert all(h.startswith("scrypt$") and floor.passwords["ana"] not in h for h in hashes)
    assert client.get("/").headers["location"] == "/plants/plant_a"  # one plant: straight to it


def test_wrong_password_and_unknown_user_get_the_same_answer_then_the_name_is_locked(floor):
    client = floor.client()
    wrong = login(client, "ana", "not-the-password")
    unknown = login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "User name or password is wrong" in wrong.text
        and "User name or password is wrong" in unknown.text
    )
    for _ in range(4):
        login(client, "ana", "still-not-it")
    locked = login(client, "ana", floor.passwords["ana"])  # even the right password, while locked
    assert locked.status_code == 429 and "Too many wrong passwords for ana" in locked.text
    assert (
        login(client, "eve", floor.passwords["eve"]).status_code == 303
    )  # other names are not locked


def test_login_form_without_its_token_is_refused(floor):
    client = floor.client()
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": "ana", "password": floor.passwords["ana"], "csrf_token": "forged"},
    )
    assert r.status_code == 403 and "security token" in r.text
    assert "fm_session" not in r.cookies


def test_not_logged_in_pages_redirect_to_login_and_posts_are_refused(floor):
    client = floor.client()
    r = client.get("/plants/plant_a")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/plants/plant_a"
    pid = floor.a.ids()[0]
    r = _post(client, "plant_a", pid, csrf_token="anything")
    assert r.status_code == 403 and "not logged in" in r.text
    assert client.get("/plants/plant_a/impact").status_code == 401
    assert floor.count() == 0


def test_an_operator_cannot_read_or_write_another_plant(floor):
    ana = floor.client("ana")
    token = page_csrf(ana, "plant_a")
    for path in ("/plants/plant_b", "/plants/plant_b/impact", "/plants/plant_b/log"):
        r = ana.get(path)
        assert r.status_code == 403 and "no access to plant &#39;plant_b&#39;" in r.text, path
    r = _post(ana, "plant_b", floor.b.ids()[0], csrf_token=token)
    assert r.status_code == 403
    # a plant_b prediction posted through plant_a's own form is not a plant_a prediction
    r = _post(ana, "plant_a", floor.b.ids()[0], csrf_token=token)
    assert r.status_code == 400 and "is not a prediction of plant plant_a" in r.text
    assert floor.count() == 0
    bob = floor.client("bob")
    assert bob.get("/plants/plant_a").status_code == 403
    assert floor.a.ids()[0] not in bob.get("/plants/plant_b").text


def test_operators_are_refused_the_engineers_log_and_engineers_see_every_comment(floor):
    ana, eve = floor.client("ana"), floor.client("eve")
    pid = floor.a.ids(alarm=True)[0]
    r = _post(
        ana,
        "plant_a",
        pid,
        csrf_token=page_csrf(ana, "plant_a"),
        comment="mould flash, not a failure",
    )
    assert r.status_code == 303
    assert ana.get("/plants/plant_a/log").status_code == 403
    log = eve.get("/plants/plant_a/log")
    assert (
        log.status_code == 200 and "mould flash, not a failure" in log.text and ">ana<" in log.text
    )


def test_forged_forms_are_refused_and_store_nothing(floor):
    ana, eve = floor.client("ana"), floor.client("eve")
    pid = floor.a.ids()[0]
    assert _post(ana, "plant_a", pid).status_code == 403  # no token
    assert _post(ana, "plant_a", pid, csrf_token="x" * 43).status_code == 403  # made up
    eve_token = page_csrf(eve, "plant_a")
    r = _post(ana, "plant_a", pid, csrf_token=eve_token)  # another session's
    assert r.status_code == 403 and "CSRF" in r.text
    token = page_csrf(ana, "plant_a")
    r = ana.post(
        "/plants/plant_a/feedback",
        data={"prediction_id": pid, "verdict": "wrong", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "evil.example" in r.text
    r = ana.post(
        "/plants/plant_a/feedback",
        content=f'{{"prediction_id": "{pid}"}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 415
    r = ana.post(
        "/plants/plant_a/feedback",
        data={
            "prediction_id": pid,
            "verdict": "wrong",
            "csrf_token": token,
            "comment": "x" * 40_000,
        },
    )
    assert r.status_code == 413
    assert floor.count() == 0
    assert _post(ana, "plant_a", pid, csrf_token=token).status_code == 303  # the real form works
    assert floor.count() == 1


def test_logout_ends_the_session_and_revoking_a_plant_takes_effect_at_once(floor):
    ana = floor.client("ana")
    token = page_csrf(ana, "plant_a")
    old_cookie = ana.cookies.get("fm_session")
    floor.app.state.floor.users.revoke("ana", plant_id="plant_a")
    assert ana.get("/plants/plant_a").status_code == 403
    floor.app.state.floor.users.grant("ana", plant_id="plant_a", role="operator")
    assert ana.get("/plants/plant_a").status_code == 200
    r = ana.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    ana.cookies.set("fm_session", old_cookie)  # replaying the old cookie after logout
    assert ana.get("/plants/plant_a").status_code == 303


def test_pages_send_security_headers_and_escape_what_people_write(floor):
    ana = floor.client("ana")
    pid = floor.a.ids(alarm=True)[1]
    _post(
        ana,
        "plant_a",
        pid,
        csrf_token=page_csrf(ana, "plant_a"),
        comment="<script>alert(1)</script>",
    )
    r = floor.client("eve").get("/plants/plant_a/log")
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert not re.search(r"<script", r.text)  # the page needs no script at all
