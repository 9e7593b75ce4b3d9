"""Schemathesis hooks for tests/api/run.sh (loaded through SCHEMATHESIS_HOOKS).

- Authentication: every request carries a Bearer token of the run's admin
  client, fetched with its credentials (client_secret_basic) and refreshed
  every few seconds, so that a signing key revoked by the run itself
  (POST /admin/keys/{kid}/revoke, reached through the rotation's `kid`) does
  not leave the rest of the run with a refused token.
- The run's own admin client is never changed or deleted: a write whose path
  names it is sent to an id that names no client instead (a 404), since
  disabling it or removing its secret would end the run's authentication.
"""

import base64
import json
import os
import urllib.request

import schemathesis

ENDPOINT = os.environ["M2M_API_ENDPOINT"]
ADMIN_ID = os.environ["M2M_API_ADMIN_ID"]
ADMIN_SECRET = os.environ["M2M_API_ADMIN_SECRET"]
NOBODY = "m2m_no_such_client"


def admin_token() -> str:
    basic = base64.b64encode(f"{ADMIN_ID}:{ADMIN_SECRET}".encode()).decode()
    request = urllib.request.Request(
        f"{ENDPOINT}/oauth/token",
        data=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(refresh_interval=5)
class AdminToken:
    def get(self, case, ctx):
        return admin_token()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.method.upper() == "GET":
        return
    if (case.path_parameters or {}).get("client_id") == ADMIN_ID:
        case.path_parameters["client_id"] = NOBODY
