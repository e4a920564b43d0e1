"""Schemathesis hooks for fieldopt: generators for the formats fieldopt
names, and the cross-field rules a JSON Schema cannot state (a shift's start
before its end, both coordinates or neither). They shape what is generated;
they never relax a check.

Loaded by tests/schemathesis/run.sh with SCHEMATHESIS_HOOKS=hooks.
"""
import re
import uuid

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

CLOCK = st.builds(lambda h, m: f"{h:02}:{m:02}", st.integers(0, 23), st.integers(0, 59))


def minutes(clock):
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


@st.composite
def slots(draw):
    start = draw(st.integers(0, 23 * 60 + 58))
    end = draw(st.integers(start + 1, 23 * 60 + 59))
    return f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"


schemathesis.openapi.format("clock-time", CLOCK)
schemathesis.openapi.format("time-slot", slots())
# Dates in the years fieldopt takes (1900..=2999), every one of them real.
schemathesis.openapi.format(
    "date", st.dates(min_value=__import__("datetime").date(1900, 1, 1),
                     max_value=__import__("datetime").date(2999, 12, 31)).map(str))

SLOT = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
KEY = re.compile(r"^[\x21-\x7E]{1,200}$")


def ordered_slot(value):
    if not isinstance(value, str) or not SLOT.match(value):
        return True  # not a slot at all: the schema decides
    start, end = value.split("-")
    return minutes(start) < minutes(end)


def both_or_neither(body, a, b, patch):
    if a not in body and b not in body:
        return True
    if patch:
        if (a in body) != (b in body):
            return False
        return (body[a] is None) == (body[b] is None)
    return (body.get(a) is None) == (body.get(b) is None)


def ordered_shift(body, patch):
    start, end = body.get("shift_start"), body.get("shift_end")
    if patch and (start is None or end is None):
        return True  # checked against the stored shift: a 409 when it clashes
    start = start if start is not None else "08:00"
    end = end if end is not None else "17:00"
    if not (isinstance(start, str) and isinstance(end, str)):
        return True
    if not (CLOCK_RE.match(start) and CLOCK_RE.match(end)):
        return True
    return minutes(start) < minutes(end)


def operation_id(case):
    return case.operation.definition.raw.get("operationId", "")


@schemathesis.hook
def filter_case(ctx, case):
    """Drops bodies that break a rule between two fields (every phase), and
    stateful steps whose link pointed at a value the previous response did
    not have (sent as the text "None")."""
    meta = case.meta
    positive = meta is None or meta.generation.mode == GenerationMode.POSITIVE
    if positive and any(v is None or v == "None" for v in (case.path_parameters or {}).values()):
        return False
    body = case.body
    if not isinstance(body, dict):
        return True
    operation = operation_id(case)
    patch = operation.startswith("update_")
    if operation in ("create_technician", "update_technician"):
        return ordered_shift(body, patch) and both_or_neither(
            body, "home_latitude", "home_longitude", patch)
    if operation in ("create_job", "update_job"):
        return ordered_slot(body.get("time_slot")) and both_or_neither(
            body, "latitude", "longitude", patch)
    return True


@schemathesis.hook
def map_case(ctx, case):
    """A client uses a fresh Idempotency-Key per request: reusing one for a
    different request is the 422 the contract promises, not a bug."""
    headers = case.headers
    if headers is not None:
        key = headers.get("Idempotency-Key")
        if isinstance(key, str) and KEY.match(key):
            headers["Idempotency-Key"] = key + "-" + uuid.uuid4().hex[:12]
    return case
