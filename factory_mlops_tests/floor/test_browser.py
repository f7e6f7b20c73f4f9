"""A technician's round trip in a real browser (Debian's Chromium, driven by Playwright), then the
feedback sensor asking for a retrain of that plant once the queue reaches its threshold.

CI installs /usr/bin/chromium with apt (.ci/run) and sets FACTORY_MLOPS_REQUIRE_BROWSER=1, so the
test fails there rather than skipping. The screenshot is kept under `artifacts/` (or
$FACTORY_MLOPS_ARTIFACTS).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import uvicorn

from benchmarks._machine import free_port
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops_tests.floor.conftest import page_csrf

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("FACTORY_MLOPS_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")
)
# The flags that keep Chromium off the (closed) network and working as root in a container.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.slow


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("FACTORY_MLOPS_REQUIRE_BROWSER"):
        pytest.fail(
            f"{CHROMIUM} is missing; CI installs it with `apt-get install chromium` (.ci/run)"
        )
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI runs this test")


@pytest.fixture
def served(floor):
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(floor.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the page did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _tick_feedback_sensor(floor, instance):
    defs = build_plant_definitions(floor.a.config, home=floor.home.root)
    sensor = defs.resolve_sensor_def("plant_a__feedback_retrain_sensor")
    return sensor(
        dg.build_sensor_context(
            instance=instance,
            definitions=defs,
            resources={"factory_home": FactoryHomeResource(home=str(floor.home.root))},
        )
    )


def test_technician_marks_a_missed_failure_wrong_and_the_queue_then_requests_a_retrain(
    floor, served
):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 1366})  # a tablet, portrait
        page.goto(f"{served}/plants/plant_a")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("User name").fill("ana")
        page.get_by_label("Password").fill(floor.passwords["ana"])
        page.get_by_role("button", name="Log in").click()

        expect(page.get_by_role("heading", name="Label these first")).to_be_visible()
        card = page.locator("article.card:not(.alarm)").first  # a prediction without alarm
        expect(card).to_contain_text("No alarm")
        expect(card).to_contain_text("Why the model says this")
        pid = card.get_attribute("data-prediction-id")
        card.locator("select[name=failure_type]").select_option("wear")
        card.get_by_role("button", name="Wrong", exact=True).click()

        stored = page.locator("#stored")
        expect(stored).to_contain_text("Stored: WRONG")
        expect(stored).to_contain_text("failure type wear")
        expect(page.locator(f'article[data-prediction-id="{pid}"]')).to_have_count(
            0
        )  # judged: off the queue
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "shop_floor_page.png"), full_page=False)
        browser.close()

    rows = floor.store.records("plant_a", prediction_id=pid)
    assert [(r.by, r.verdict, r.label, r.failure_type, r.alarm) for r in rows] == [
        ("ana", "wrong", 1, "wear", False)
    ]

    need = floor.a.config.retrain.feedback_min_labels
    eve = floor.client("eve")
    token = page_csrf(eve, "plant_a")
    others = [p for p in floor.a.ids(alarm=True) if p != pid][: need - 2]
    for p in others:
        assert (
            eve.post(
                "/plants/plant_a/feedback",
                data={"prediction_id": p, "verdict": "wrong", "csrf_token": token},
            ).status_code
            == 303
        )
    assert floor.store.pending_count("plant_a") == need - 1
    with dg.instance_for_test() as instance:
        below = _tick_feedback_sensor(floor, instance)
        assert not below.run_requests, "one label short of the threshold must not retrain"
        last = next(p for p in floor.a.ids(alarm=True) if p not in others)
        assert (
            eve.post(
                "/plants/plant_a/feedback",
                data={"prediction_id": last, "verdict": "right", "csrf_token": token},
            ).status_code
            == 303
        )
        result = _tick_feedback_sensor(floor, instance)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags[T.PLANT] == "plant_a" and request.tags[T.TRIGGER] == "feedback"
    assert f"{need} operator label(s) queued" in request.tags[T.REASON]
