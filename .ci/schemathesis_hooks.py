"""Schemathesis hooks for .ci/run (loaded by .ci/schemathesis.toml).

Two things a JSON Schema cannot carry:

- Values of the document's own string formats: `phone` (a number valid in its country's numbering
  plan, which no pattern states).
- The refusals that depend on what is stored rather than on the request: a record the body names
  that doesn't exist, a stale If-Match, the workspace's custom fields. A request can be valid by the
  document and still meet one of them, so `positive_data_acceptance` forgives exactly these and
  nothing else. docs/api-conventions.md ("Refusals that depend on what is stored") lists the same
  rules; a test in src/error/code.rs checks that every code named here exists.
"""

from __future__ import annotations

import os
import re
import string
from random import SystemRandom
from typing import Any

import schemathesis
from hypothesis import strategies as st

# A list may not hold one email or phone twice (a 422 `duplicate`: a rule across items, after
# normalisation, that no schema states), and Hypothesis, shrinking towards zeros, draws the same
# digits again and again. So the distinguishing part of each value is drawn outside Hypothesis.
_random = SystemRandom()


def _unique_digits(count: int) -> str:
    return "".join(_random.choice(string.digits) for _ in range(count))


# Mobile numbers of Russia's numbering plan, written with the country code in the ways people
# write them: every one is valid.
schemathesis.openapi.format(
    "phone",
    st.sampled_from(["+7 9{}", "+79{}", "+7 (9{})"]).map(lambda notation: notation.format(_unique_digits(9))),
)

# Email addresses: an RFC 5322 dot-atom local part (the punctuation included), made unique.
schemathesis.openapi.format(
    "email",
    st.tuples(
        st.text(alphabet=string.ascii_lowercase + string.digits + "!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=10),
        st.sampled_from(["example.com", "acme.example", "mail.test"]),
    ).map(lambda parts: f"{parts[0]}.{_unique_digits(8)}@{parts[1]}"),
)

# IANA time zone names (the format `time-zone`): a sample across the tz database's areas.
schemathesis.openapi.format(
    "time-zone",
    st.sampled_from(
        ["UTC", "Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Yekaterinburg",
         "Asia/Kolkata", "Australia/Adelaide", "Africa/Nairobi", "Pacific/Chatham", "Etc/GMT-3"]
    ),
)

# Problem codes whose refusal depends on what is stored. 404 and 409 answers are expected by the
# check anyway; these are the 400, 412 and 422 ones, and the conflicts for completeness.
STORED_STATE_PROBLEMS = {
    # A cursor is one this API issued for the same listing: no schema can say which strings.
    "invalid_cursor",
    # If-Match names a version the record doesn't have.
    "version_mismatch",
    # A row the request would duplicate or that stands in the way.
    # (Not `already_exists`: a unique key without a code of its own is a bug, never forgiven.)
    "duplicate",
    "email_taken",
    "sku_taken",
    "key_taken",
    "team_name_taken",
    "pipeline_name_taken",
    "segment_name_taken",
    "external_ref_taken",
    "last_owner",
    "cannot_deactivate_self",
    "default_pipeline",
    "pipeline_in_use",
    "stage_in_use",
    "records_in_the_way",
    "client_deleted",
    "dynamic_segment",
    "not_planned",
    "too_many_fields",
    "too_many_stages",
}

# Field codes that only ever report stored state.
STORED_STATE_FIELDS = {
    # A record the body names (a team, a user, a client, a deal, a stage) must exist in the workspace.
    "not_found",
    # The deal named belongs to another client; the stage to another pipeline.
    "wrong_client",
    "wrong_pipeline",
    # A reorder lists every stage the pipeline has, exactly once.
    "permutation",
    # A workspace always has a default pipeline: the default one can't stop being it.
    "default_required",
    # The current password is the one stored.
    "mismatch",
    # A client's kind is the one it was created with.
    "immutable",
}

# Field codes that report stored state on some operations: a rule across fields of which one is
# stored (the pipeline's other stages, a deal's items and currency when the request leaves them out).
STORED_STATE_FIELDS_BY_OPERATION = {
    "stage_kinds": {"create_stage", "update_stage", "delete_stage"},
    # A deal's exchange rate is for a currency other than the workspace's; a lost stage needs a
    # reason and only a closed deal has a closing time (the stage named is a stored one); a line
    # with a product priced in another currency gives its own price (the product's is stored).
    "same_currency": {"create_deal", "update_deal", "upsert_deal_by_ref"},
    # Changing one's own password needs the current one: whether the path names the caller is
    # stored state (the token's user).
    # An upsert's body is a change; what a new record needs depends on whether the ref is stored.
    "required": {"update_target", "update_client", "upsert_client_by_ref", "upsert_product_by_ref", "update_contact", "create_contact", "upsert_contact_by_ref", "create_deal", "update_deal", "upsert_deal_by_ref", "upsert_activity_by_ref", "update_user"},
    # Which fields a client has follows its stored kind (an upsert's, when the ref is stored); a name
    # may be the one already stored.
    # A client is named by id or by ref, not both (the stored one stands in for the id on a change).
    "not_allowed": {"update_client", "upsert_client_by_ref", "create_deal", "update_deal", "upsert_deal_by_ref", "create_contact", "update_contact", "upsert_contact_by_ref"},
    # Only a dynamic segment has a filter, and a segment's kind is the stored one; which settings a
    # custom field takes, and that an enum keeps an option, follow its stored type.
    "not_applicable": {"update_segment", "update_custom_field"},
    "length": {"update_custom_field"},
    # A client isn't merged into itself: the path names the one the body may not. An import's file
    # has a header row naming a field: CSV inside a string, which no schema reads.
    "invalid": {"merge_clients", "merge_contacts", "create_import"},
    # A consent purpose is a built-in one or one of the workspace's own (`consent_purposes`).
    "option": {"record_client_consent", "record_contact_consent", "get_client_unsubscribe_link", "get_contact_unsubscribe_link", "export_segment"},
}

# Rules no JSON Schema can state, forgiven for the same reason as those above, and listed beside
# them in docs/api-conventions.md: a bound on the whole of a recursive filter (its depth and its
# total conditions, where a schema bounds one group at a time), and a phone number's validity in
# its country's numbering plan (the format `phone`, which a validator can't check; the hooks draw
# valid numbers, but schemathesis' coverage phase sends other strings in that format's place).
BEYOND_A_SCHEMA = {
    "too_deep",
    "too_many_conditions",
    "phone",
    # A custom field's pattern is a regular expression of Rust's dialect, not ECMA-262's.
    "regex",
}

# The same, on some operations: a custom field's `min` is not above its `max`; an API key expires
# in the future, and its networks are CIDR; a webhook's URL is https to a public address; an import's file is CSV whose header names a field; a deal's amount has at most its currency's minor units
# (the workspace's currency when the deal names none), an amount beside items equals their sum,
# and sums and products of amounts stay below 10^15; a deal closes in the past; a target's revenue
# has at most the workspace currency's minor units; consent is not recorded as given in the future; a call list starts today or later and ends within a year.
BEYOND_A_SCHEMA_BY_OPERATION = {
    "range": {"create_custom_field", "update_custom_field", "create_api_key", "sales_report", "funnel_report", "activity_report", "clients_report", "create_call_list"},
    # A webhook's URL is https and its host a public address (http and private ones where allowed).
    "format": {"create_api_key", "create_import", "create_webhook", "update_webhook"},
    "not_allowed": {"create_webhook", "update_webhook"},
    "scale": {"create_deal", "update_deal", "upsert_deal_by_ref", "create_target", "update_target"},
    # A target sets revenue, deals or both, and is a user's or a team's, not both.
    "required": {"create_target"},
    "invalid": {"create_target"},
    "items_sum": {"create_deal", "update_deal", "upsert_deal_by_ref"},
    "too_large": {"create_deal", "update_deal", "upsert_deal_by_ref"},
    "in_future": {"create_deal", "update_deal", "upsert_deal_by_ref", "record_client_consent", "record_contact_consent"},
    # A workspace's own consent purpose is none of the built-in ones, and listed once.
    "duplicate": {"update_workspace"},
    # A report's range is ordered, within 1900-9999 (its comparison too) and at most 1,100 periods;
    # its currency is an ISO 4217 code, which the pattern `^[A-Z]{3}$` can't list.
    "currency": {"sales_report", "seasonality_report"},
}

# A custom field is named `custom.<key>` and is whatever the workspace defined under that key.
CUSTOM_VALUE = re.compile(r"(^|\.)custom\.")
FILTER_CONDITION = re.compile(r"^(filter(?:\.(?:all|any)\[\d+\])*)\.(?:field|op|value)$")


def _condition_field(path: str, body: Any) -> str | None:
    """The field of the filter condition a field error's path points into, if it does."""
    condition = FILTER_CONDITION.match(path)
    if condition is None or not isinstance(body, dict):
        return None
    node: Any = body
    for step in re.findall(r"[a-z]+|\[\d+\]", condition.group(1)):
        if step.startswith("["):
            index = int(step[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
    field = node.get("field") if isinstance(node, dict) else None
    return field if isinstance(field, str) else None


def _names_a_custom_field(path: str, body: Any) -> bool:
    """Whether a field error is about a custom field: a custom value, or a filter condition on one;
    or about a filter condition on consent to a purpose of the workspace's own (`consent.<purpose>`),
    which is whatever the workspace's `consent_purposes` list."""
    condition_field = _condition_field(path, body) or ""
    return bool(CUSTOM_VALUE.search(path)) or condition_field.startswith(("custom.", "consent."))


def _is_beyond_a_schema(operation_id: str | None, error: dict[str, Any], body: Any) -> bool:
    """A bound on a whole filter, a phone number that isn't one, a custom field's range or regex."""
    if error.get("code") in BEYOND_A_SCHEMA:
        return True
    if operation_id in BEYOND_A_SCHEMA_BY_OPERATION.get(error.get("code"), ()):
        return True
    path = str(error.get("field", ""))
    return error.get("code") == "invalid_value" and _condition_field(path, body) == "phones"


def _is_forgiven(operation_id: str | None, problem: Any, body: Any) -> bool:
    if not isinstance(problem, dict):
        return False
    code = problem.get("code")
    if code in STORED_STATE_PROBLEMS:
        return True
    if code != "validation_failed":
        return False
    errors = problem.get("errors") or []
    return bool(errors) and all(
        error.get("code") in STORED_STATE_FIELDS
        or operation_id in STORED_STATE_FIELDS_BY_OPERATION.get(error.get("code"), ())
        or _names_a_custom_field(str(error.get("field", "")), body)
        or _is_beyond_a_schema(operation_id, error, body)
        for error in errors
    )


# The run's own account (CRM_CI_USER_ID, the owner whose token the run sends) keeps its role and
# stays active. Once the fuzzer has made another user an owner, it may demote or deactivate the
# run's owner, and every later request is a 401: the run would end in the missing_auth warning,
# nondeterministically, as the ids differ from run to run. Demotion and deactivation are tested in
# tests/api/users.rs. Here a change that names a role or the active flag is sent to an account that
# doesn't exist instead: a 404, which every check accepts for valid and invalid bodies alike
# (dropping the fields instead would turn an invalid body valid, and its acceptance a failure).
_RUN_ACCOUNT = os.environ.get("CRM_CI_USER_ID")
_NO_ACCOUNT = "00000000-0000-7000-8000-000000000000"


# Hypothesis draws the same few Idempotency-Keys ("0", "!") for every write, and a key already
# used for another request is refused (422 `idempotency_key_reused`, tested in
# tests/api/idempotency.rs): the writes after the first would never reach their handlers. A valid
# key of a valid request is made unique instead. A negative case is left as drawn: it is refused
# either way, and editing its headers would make schemathesis judge them anew and send the
# Authorization its "missing Authorization" case leaves out.
_VALID_KEY = re.compile(r"^[!-~]{1,255}$")


def _unique_key(key: str) -> str:
    suffix = "-" + _unique_digits(12)
    return key[: 255 - len(suffix)] + suffix


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    operation_id = case.operation.schema.get_operation_id(case.operation)
    positive = case.meta is None or case.meta.generation.mode.is_positive
    headers = case.headers if positive and case.headers else {}
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and isinstance(value, str) and _VALID_KEY.match(value):
            headers[name] = _unique_key(value)
    if (
        _RUN_ACCOUNT
        and operation_id == "update_user"
        and (case.path_parameters or {}).get("id") == _RUN_ACCOUNT
        and isinstance(case.body, dict)
        and ("role" in case.body or "active" in case.body)
    ):
        case.path_parameters["id"] = _NO_ACCOUNT


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure except a schema-valid request refused for what is stored, or for a rule
    no schema can state."""
    if failure.code != "ST202":  # Schema-valid request rejected (positive_data_acceptance)
        return True
    try:
        problem = response.json()
    except Exception:
        return True
    operation_id = case.operation.schema.get_operation_id(case.operation)
    return not _is_forgiven(operation_id, problem, case.body)
