"""The console's login against the real access-control part: which roles get in."""

from __future__ import annotations

import pytest

from headway.testing import GatewayThread
from tests.auth.conftest import create_key, secure_config, secure_gateway  # noqa: F401  (fixtures)
from tests.console.conftest import login_cookie


@pytest.mark.parametrize(("role", "admitted"), [("operator", True), ("reviewer", True), ("developer", True), ("app", False)])
def test_roles_that_may_read_requests_or_reviews_log_in(secure_gateway: GatewayThread, role: str, admitted: bool) -> None:  # noqa: F811
    _, token = create_key(secure_gateway, principal=f"console-{role}", team="risk", roles=[role])
    reply = login_cookie(secure_gateway, token)
    assert (reply.status == 303) is admitted, (role, reply.status, reply.body[:200])
    assert ("set-cookie" in reply.headers) is admitted
