"""A factory home with two plants for the shop-floor page, its app, and people with random passwords."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from benchmarks._floor_home import SamplePlant, build_sample_plant
from factory_mlops.config import load_plant_config
from factory_mlops.feedback import FeedbackStore
from factory_mlops.floor import create_app
from factory_mlops.home import FactoryHome
from factory_mlops_tests.conftest import PLANTS

#: name -> (plant, role)
PEOPLE = {
    "ana": ("plant_a", "operator"),
    "eve": ("plant_a", "engineer"),
    "bob": ("plant_b", "operator"),
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Floor:
    home: FactoryHome
    app: Any
    a: SamplePlant
    b: SamplePlant
    passwords: dict[str, str]

    @property
    def store(self) -> FeedbackStore:
        return self.app.state.floor.store

    def client(self, name: str | None = None) -> TestClient:
        """A browser-like client, logged in as `name` when given."""
        client = TestClient(self.app, base_url="http://testserver", follow_redirects=False)
        if name is not None:
            r = login(client, name, self.passwords[name])
            assert r.status_code == 303, r.text
        return client

    def count(self) -> int:
        return sum(self.store.summary(p)["total"] for p in ("plant_a", "plant_b"))


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no csrf_token on the page"
    return m.group(1)


def login(client: TestClient, name: str, password: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token, "next": "/"}
    )


def page_csrf(client: TestClient, plant: str) -> str:
    r = client.get(f"/plants/{plant}")
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


@pytest.fixture
def floor(tmp_path) -> Floor:
    home = FactoryHome(tmp_path / "home")
    home.root.mkdir(parents=True)
    a = build_sample_plant(load_plant_config(PLANTS / "plant_a" / "plant.yaml"), home, seed=1)
    b = build_sample_plant(
        load_plant_config(PLANTS / "plant_b" / "plant.yaml"),
        home,
        seed=2,
        failure_types=("spindle_bearing",),
    )
    app = create_app(home, plants_dir=PLANTS)
    passwords = {name: secrets.token_urlsafe(12) for name in PEOPLE}
    for name, (plant, role) in PEOPLE.items():
        app.state.floor.users.add_user(name, passwords[name], plant_id=plant, role=role)
    yield Floor(home, app, a, b, passwords)
    app.state.floor.store.close()
