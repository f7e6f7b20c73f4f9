"""Operator feedback: verdicts on edge predictions that become labels of the next training set.

An operator (or a tablet web page) says whether a logged prediction was right or wrong; the verdict
implies a label (a wrong alarm: no failure, 0; a wrong non-alarm: a missed failure, 1; right keeps
the alarm), stored in a SQLAlchemy Core table (embedded SQLite by default, Postgres by URL) and
audited. The next training set uses it to override the maintenance-derived label of the feature
row the prediction was made on, and the registered version records which feedback it used.

Usage::

    record = record_feedback(config, home, prediction_id="3f2a…", verdict="wrong", by="j.doe")
    store = FeedbackStore.for_home(home)
    store.pending(config.plant_id); store.summary(config.plant_id)

See docs/feedback.md.
"""

from factory_mlops.feedback._cli import add_feedback_parser
from factory_mlops.feedback._errors import DuplicateFeedbackError, FeedbackError
from factory_mlops.feedback._join import FeedbackLabels, feedback_labels, id_ranges, mark_used
from factory_mlops.feedback._queue import FeedbackQueue, feedback_queue
from factory_mlops.feedback._record import (
    find_prediction,
    known_failure_types,
    plant_nodes,
    record_feedback,
)
from factory_mlops.feedback._schema import (
    MAX_NAME,
    VERDICTS,
    FeedbackRecord,
    UTCDateTime,
    derive_label,
)
from factory_mlops.feedback._store import (
    FEEDBACK_URL_ENV,
    FeedbackStore,
    configured_feedback_url,
    create_tables,
    home_feedback_url,
)

__all__ = [
    "FEEDBACK_URL_ENV",
    "MAX_NAME",
    "VERDICTS",
    "DuplicateFeedbackError",
    "FeedbackError",
    "FeedbackLabels",
    "FeedbackQueue",
    "FeedbackRecord",
    "FeedbackStore",
    "UTCDateTime",
    "add_feedback_parser",
    "configured_feedback_url",
    "create_tables",
    "derive_label",
    "feedback_labels",
    "feedback_queue",
    "find_prediction",
    "home_feedback_url",
    "id_ranges",
    "known_failure_types",
    "mark_used",
    "plant_nodes",
    "record_feedback",
]
