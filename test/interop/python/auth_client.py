"""
An Autobahn|Python peer that authenticates, for the authentication interop tests
(test/interop/autobahn-python-auth.test.ts).

    python3 auth_client.py join --url URL --method ticket|wampcra|cryptosign|anonymous [--authid ID] [--try ACTION:URI ...]
    python3 auth_client.py service --url URL

The secret comes from the environment, never the command line: WAMP_SECRET (a ticket or a WAMP-CRA
secret) or WAMP_SEED (a cryptosign private key seed, hex). `join` reports {"event": "welcome", ...}
with what WELCOME said, then {"event": "tried", ...} per --try (the outcome: "ok" or the error
URI), then leaves; or {"event": "refused", "reason", "message"} when the router aborts.
`service` joins (ticket from WAMP_SECRET, authid "auth-service" or as given) and registers the
dynamic authenticator and authorizer (see below); it reports "ready", each question as
{"event": "asked", ...}, and runs until SIGTERM.
"""

import argparse
import asyncio
import binascii
import json
import os
import signal
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer


def report(**fields):
    print(json.dumps(fields), flush=True)


def text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


class Peer(ApplicationSession):
    def onConnect(self):
        options = self.config.extra["options"]
        self.joined_once = False
        authextra = None
        if options.method == "cryptosign":
            from autobahn.wamp.cryptosign import CryptosignKey

            self.key = CryptosignKey.from_bytes(binascii.a2b_hex(os.environ["WAMP_SEED"]))
            authextra = {"pubkey": self.key.public_key()}
        self.join(self.config.realm, authmethods=[options.method], authid=options.authid, authextra=authextra)

    async def onChallenge(self, challenge):
        options = self.config.extra["options"]
        secret = os.environ.get("WAMP_SECRET", "")
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            extra = challenge.extra
            key = secret
            if "salt" in extra:
                key = text(auth.derive_key(secret, extra["salt"], extra.get("iterations", 1000), extra.get("keylen", 32)))
            return text(auth.compute_wcs(key, extra["challenge"]))
        if challenge.method == "cryptosign":
            signed = self.key.sign_challenge(challenge)
            if asyncio.isfuture(signed) or asyncio.iscoroutine(signed):
                signed = await signed
            return text(signed)
        raise Exception("no answer to a {} challenge ({})".format(challenge.method, options.method))

    async def onJoin(self, details):
        self.joined_once = True
        options = self.config.extra["options"]
        report(event="welcome", authid=details.authid, authrole=details.authrole, authmethod=details.authmethod,
               authprovider=details.authprovider, session=details.session)
        if options.mode == "service":
            await serve(self)
            return
        for item in options.tries:
            action, uri = item.split(":", 1)
            try:
                if action == "call":
                    await self.call(uri)
                elif action == "register":
                    await self.register(lambda *a, **k: None, uri)
                elif action == "subscribe":
                    await self.subscribe(lambda *a, **k: None, uri)
                elif action == "publish":
                    from autobahn.wamp.types import PublishOptions

                    await self.publish(uri, options=PublishOptions(acknowledge=True))
                outcome = "ok"
            except ApplicationError as error:
                outcome = error.error
            report(event="tried", action=action, uri=uri, outcome=outcome)
        self.leave()

    def onLeave(self, details):
        if not self.joined_once:
            report(event="refused", reason=details.reason, message=details.message)
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


CARL_PUBKEY = os.environ.get("CARL_PUBKEY", "")


async def serve(session):
    """The dynamic authenticator and authorizer, as a Crossbar user would write them."""

    def authenticate(realm, authid, details):
        method = details["authmethod"]
        report(event="asked", procedure="authenticate", realm=realm, authid=authid, authmethod=method)
        if method == "ticket" and authid == "tom" and details.get("ticket") == "tom-ticket":
            return "frontend"
        if method == "wampcra" and authid == "wendy":
            return {"secret": "wendy-secret", "role": "frontend", "salt": "pepper", "iterations": 50, "keylen": 32}
        if method == "cryptosign" and authid == "carl":
            return {"pubkey": CARL_PUBKEY, "role": "backend"}
        raise ApplicationError("com.example.auth.denied", "no such principal")

    def authorize(details, uri, action, options=None):
        report(event="asked", procedure="authorize", authid=details.get("authid"), uri=uri, action=action)
        return {"allow": uri.startswith("com.example.open."), "disclose": False, "cache": False}

    await session.register(authenticate, "com.example.auth.authenticate")
    await session.register(authorize, "com.example.auth.authorize")
    report(event="ready")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["join", "service"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--realm", default="realm1")
    parser.add_argument("--method", default="ticket")
    parser.add_argument("--authid", default=None)
    parser.add_argument("--try", dest="tries", action="append", default=[])
    options = parser.parse_args()
    runner = ApplicationRunner(options.url, options.realm, extra={"options": options}, serializers=[JsonSerializer()])
    runner.run(Peer)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
