#!/usr/bin/env python3
"""orq.ai's own Python SDK (orq-ai-sdk, unchanged) against our /v2/contacts.

env: ORQ_BASE_URL (the service), ORQ_API_KEY (a tenant's API key).
Create, list (limit 2, a tag filter, include_metrics false), retrieve,
update, a missing id (the SDK's typed not-found error) and delete. Prints one
JSON line per call; exits 1 if any call does not do what the SDK promises.
Run by tests/e2e/orq.rs; scripts/lib.sh installs the pinned SDK.
"""
import json
import os
import sys
import uuid

import orq_ai_sdk
from orq_ai_sdk import Orq, models

base = os.environ["ORQ_BASE_URL"]
key = os.environ["ORQ_API_KEY"]
client = Orq(api_key=key, server_url=base)
failures = 0


def dump(o):
    if o is None:
        return None
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json", by_alias=True)
    return repr(o)


def report(call, ok, **kw):
    global failures
    if not ok:
        failures += 1
    print(json.dumps({"sdk": "python", "version": orq_ai_sdk.VERSION if hasattr(orq_ai_sdk, "VERSION") else None,
                      "call": call, "ok": ok, **kw}, default=str), flush=True)


def err_info(e):
    return {"exc": type(e).__module__ + "." + type(e).__name__,
            "status": getattr(e, "status_code", None),
            "message": str(e)[:400],
            "data": dump(getattr(e, "data", None))}


ext = "x-" + uuid.uuid4().hex[:8]
cid = None

# create
try:
    r = client.contacts.create(request={
        "external_id": ext, "display_name": "Jane", "email": "jane@example.com",
        "tags": ["premium"], "metadata": {}})
    cid = r.id
    report("create", bool(r.id) and r.external_id == ext, result=dump(r))
except Exception as e:  # noqa: BLE001
    report("create", False, **err_info(e))

# list
try:
    r = client.contacts.list(limit=2, filter_by={"tags": ["premium"]}, include_metrics=False)
    ids = [c.id for c in r.data]
    report("list", cid in ids and len(ids) <= 2, count=len(ids), has_more=r.has_more, result=dump(r))
except Exception as e:  # noqa: BLE001
    report("list", False, **err_info(e))

# retrieve
try:
    r = client.contacts.retrieve(id=cid or "missing")
    report("retrieve", r.id == cid, result=dump(r))
except Exception as e:  # noqa: BLE001
    report("retrieve", False, **err_info(e))

# update
try:
    r = client.contacts.update(id=cid or "missing", display_name="Jane Doe", tags=["premium", "beta"])
    report("update", r.id == cid and r.display_name == "Jane Doe", result=dump(r))
except Exception as e:  # noqa: BLE001
    report("update", False, **err_info(e))

# update without fields: changes nothing
try:
    r = client.contacts.update(id=cid or "missing")
    report("update_nothing", r.id == cid and r.display_name == "Jane Doe", result=dump(r))
except Exception as e:  # noqa: BLE001
    report("update_nothing", False, **err_info(e))

# retrieve missing -> typed not-found error expected
try:
    r = client.contacts.retrieve(id="contact_does_not_exist")
    report("retrieve_missing", False, note="expected an error", result=dump(r))
except models.RetrieveContactContactsResponseBody as e:
    report("retrieve_missing", True, typed=True, **err_info(e))
except Exception as e:  # noqa: BLE001
    report("retrieve_missing", False, typed=False, **err_info(e))

# delete
try:
    r = client.contacts.delete(id=cid or "missing")
    report("delete", r is None, result=dump(r))
except Exception as e:  # noqa: BLE001
    report("delete", False, **err_info(e))

sys.exit(1 if failures else 0)
