#!/usr/bin/env python3
"""emnify's published Python SDK (PyPI: emnify-sdk, unchanged) against our emnify routes.
Run by tests/e2e/emnify.rs; scripts/lib.sh installs the pinned SDK in a venv of its own
(it needs pydantic 1, orq.ai's SDK pydantic 2).

Env: EMNIFY_BASE_URL (e.g. http://127.0.0.1:8080), EMNIFY_APP_TOKEN,
     optional EMNIFY_BAD_APP_TOKEN (default: a made-up token).
Prints one JSON line per step; exits 1 if any step does not behave as the SDK promises.

Notes on the SDK (0.5.3):
  * No constructor argument for the URL: emnify/api_manager.py reads
    MAIN_URL = os.environ.get("EMNIFY_SDK_API_ENDPOINT_URL", "https://cdn.emnify.net/api")
    once, at import time, and appends "/v1/...". So it must be set BEFORE importing emnify,
    and must include the "/api" prefix.
  * EMnify(app_token=...) does no HTTP; token starts as None. The SDK authenticates only
    lazily, inside BaseApiManager.unauthorised(), when some API call answers 401. None of the
    SDK's public calls (devices/SIMs/operators) hit a route our service serves, so this script
    runs exactly what that handler runs: Authenticate().call_api(client, {"application_token": ...})
    then AuthenticationResponse(**answer).auth_token into client.token.
"""
import json
import os
import sys

BASE = os.environ.get("EMNIFY_BASE_URL", "").rstrip("/")
APP_TOKEN = os.environ.get("EMNIFY_APP_TOKEN", "")
BAD_TOKEN = os.environ.get("EMNIFY_BAD_APP_TOKEN", "definitely-not-a-known-application-token")
if not BASE or not APP_TOKEN:
    print(json.dumps({"sdk": "emnify-python", "call": "setup", "ok": False,
                      "error": "EMNIFY_BASE_URL and EMNIFY_APP_TOKEN must be set"}))
    sys.exit(1)

# Must happen before `import emnify`: MAIN_URL is captured at import time.
os.environ["EMNIFY_SDK_API_ENDPOINT_URL"] = BASE + "/api"

import emnify  # noqa: E402
from emnify import EMnify, errors as emnify_errors  # noqa: E402
from emnify import api_manager  # noqa: E402
from emnify.modules.api.models import AuthenticationResponse  # noqa: E402
from emnify.version import EMNIFY_PACKAGE_VERSION  # noqa: E402

failed = False


def emit(call, ok, **extra):
    global failed
    failed |= not ok
    print(json.dumps({"sdk": "emnify-python", "version": EMNIFY_PACKAGE_VERSION,
                      "call": call, "ok": ok, **extra}), flush=True)


def looks_like_jwt(s):
    return isinstance(s, str) and s.count(".") == 2 and all(s.split("."))


def sdk_authenticate(client):
    """Exactly what BaseApiManager.unauthorised() does to (re)authenticate."""
    answer = api_manager.Authenticate().call_api(client, {"application_token": client.app_token})
    client.token = AuthenticationResponse(**answer).auth_token
    return answer


# Step 0: construct the client (lazy: no HTTP, token None) and check where it points.
try:
    client = EMnify(app_token=APP_TOKEN)
    ok = api_manager.MAIN_URL == BASE + "/api" and client.token is None
    emit("construct", ok, main_url=api_manager.MAIN_URL, token_before_auth=client.token)
except Exception as e:  # pragma: no cover
    emit("construct", False, error_type=type(e).__name__, error=str(e))
    sys.exit(1)

# Step 1: authenticate with the good application token.
try:
    answer = sdk_authenticate(client)
    ok = looks_like_jwt(client.token)
    emit("authenticate", ok, url=api_manager.MAIN_URL + "/v1/authenticate",
         auth_token_is_jwt=looks_like_jwt(client.token),
         refresh_token_is_jwt=looks_like_jwt(answer.get("refresh_token")),
         response_keys=sorted(answer) if isinstance(answer, dict) else None)
except Exception as e:
    emit("authenticate", False, error_type=type(e).__name__, error=str(e))

# Step 2: a bad token must raise the SDK's typed UnauthorisedException.
try:
    bad = EMnify(app_token=BAD_TOKEN)
    sdk_authenticate(bad)
    emit("authenticate_bad_token", False, error="no exception raised", token_after=bad.token)
except emnify_errors.UnauthorisedException as e:
    emit("authenticate_bad_token", str(e) == "Invalid Application Token",
         error_type="emnify.errors.UnauthorisedException", error=str(e))
except Exception as e:
    emit("authenticate_bad_token", False, error_type=type(e).__name__, error=str(e))

sys.exit(1 if failed else 0)
