"""A real SMTP server for the tests (aiosmtpd): every message it accepts is
written to DIR as NNNN.eml, whole, as received. Prints `listening on PORT`
once it accepts connections.

    python3 smtp_sink.py DIR [PORT] [USER PASSWORD]

PORT 0 (the default) picks a free port. With USER and PASSWORD the server
requires AUTH (PLAIN or LOGIN) before it takes mail. With SINK_TLS=starttls
or SINK_TLS=implicit in the environment (and SINK_CERT, SINK_KEY naming PEM
files) it requires STARTTLS, or speaks TLS from the first byte.
"""

import asyncio
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        # A server started again on the folder (a resumed one) numbers on
        # after what it received before, never over it.
        self.count = sum(1 for name in os.listdir(directory) if name.endswith(".eml"))

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.directory, f"{self.count:04d}.eml")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        # Written whole, then renamed: a reader never sees half a message.
        with open(name + ".part", "wb") as out:
            out.write(content)
        os.rename(name + ".part", name)
        return "250 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd itself answers a refused login (535);
        # with its default it would leave the client waiting for an answer.
        return AuthResult(success=ok, handled=False)

    return check


async def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    credentials = sys.argv[3:5] if len(sys.argv) > 4 else None
    handler = Sink(directory)
    mode = os.environ.get("SINK_TLS")
    context = None
    if mode:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.environ["SINK_CERT"], os.environ["SINK_KEY"])

    def factory():
        options = {}
        if credentials:
            options.update(
                authenticator=authenticator(*credentials),
                auth_required=True,
                # Implicit TLS is encrypted from the start; STARTTLS must come first.
                auth_require_tls=mode == "starttls",
            )
        if mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        return SMTP(handler, **options)

    loop = asyncio.get_running_loop()
    implicit = context if mode == "implicit" else None
    server = await loop.create_server(factory, "127.0.0.1", port, ssl=implicit)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


asyncio.run(main())
