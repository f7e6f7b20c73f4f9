"""The shop-floor feedback page: technicians judge edge predictions where they see them.

A small ASGI app (starlette + Jinja2, no front-end build) over the factory home: recent predictions
per machine with their explanation in plain words, one-click Wrong / Right (with an optional
failure type and comment) stored through `factory_mlops.feedback.record_feedback`, a queue of
uncertain predictions to label first, and a view of what feedback did. People log in; each holds
a role (`operator`, `engineer`) per plant and sees nothing of other plants.

    factory-mlops feedback user add j.doe --plant plant_a --role operator   # asks for a password
    factory-mlops feedback serve --port 8765

Usage from Python::

    app = create_app(FactoryHome.resolve())      # an ASGI app: uvicorn.run(app, port=8765)

See docs/feedback.md.
"""

from factory_mlops.floor._app import FloorSettings, create_app
from factory_mlops.floor._cli import main
from factory_mlops.floor._passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from factory_mlops.floor._plant_view import PlantView, PredictionCard
from factory_mlops.floor._users import ROLES, UserError, UserStore
from factory_mlops.floor._words import Reason, explain, feature_words

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "FloorSettings",
    "PlantView",
    "PredictionCard",
    "Reason",
    "UserError",
    "UserStore",
    "create_app",
    "explain",
    "feature_words",
    "hash_password",
    "main",
    "verify_password",
]
