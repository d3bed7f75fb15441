"""Uses a client generated from gatehouse's OpenAPI document (by
openapi-python-client, into the package `client` under DIR) the way a
client developer would: register, log in, read the account, list the
sessions, renew, log out. Prints one JSON object per call: the operation,
the status and the generated type the answer was parsed into, with the
fields the test checks.

    python3 api_client.py DIR BASE_URL USERNAME EMAIL PASSWORD
"""

import json
import sys


def main() -> None:
    directory, base_url, username, email, password = sys.argv[1:6]
    sys.path.insert(0, directory)
    from client import AuthenticatedClient, Client
    from client.api.account import me, register
    from client.api.sessions import list_sessions
    from client.api.tokens import login, logout, refresh
    from client.models import LoginRequest, RefreshRequest, RegisterRequest

    def report(operation, response, **fields):
        parsed = response.parsed
        kind = type(parsed).__name__
        if isinstance(parsed, list):
            kind = "list[" + ",".join(sorted({type(item).__name__ for item in parsed})) + "]"
        print(
            json.dumps(
                {"operation": operation, "status": int(response.status_code), "parsed": kind, **fields}
            )
        )
        return parsed

    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    account = RegisterRequest(username=username, email=email, password=password)
    user = report("register", register.sync_detailed(client=anonymous, body=account))
    report("register again", register.sync_detailed(client=anonymous, body=account))
    report(
        "login, wrong password",
        login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password + "x")),
    )
    tokens = report(
        "login", login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password))
    )

    signed_in = AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )
    answer = me.sync_detailed(client=signed_in)
    report("me", answer, id=answer.parsed.id == user.id, email=answer.parsed.email)
    answer = list_sessions.sync_detailed(client=signed_in)
    report("sessions", answer, current=[s.current for s in answer.parsed])
    answer = refresh.sync_detailed(
        client=anonymous, body=RefreshRequest(refresh_token=tokens.refresh_token)
    )
    renewed = report("refresh", answer)
    report("logout", logout.sync_detailed(client=signed_in))
    report("me after logout", me.sync_detailed(client=signed_in))
    report(
        "me, renewed token after logout",
        me.sync_detailed(
            client=AuthenticatedClient(base_url=base_url, token=renewed.access_token)
        ),
    )


if __name__ == "__main__":
    main()
