"""
An Autobahn|Python peer for the interop tests (test/interop/autobahn-python.test.ts).

    python3 client.py ROLE --url URL --realm REALM --serializer json|msgpack|cbor --prefix PREFIX [--name NAME] [--count N]

Roles: callee, shared-callee, caller, subscriber, publisher, reflector (see the functions below). The peer reports on stdout,
one JSON object a line ({"event": ...}); every value it received is reported with its Python type
(see `typed`), so the test can assert that integers arrived as int, floats as float, strings as str
and byte arrays as bytes. A failed expectation ends the process with a non-zero status and a
message on stderr. Callees and subscribers run until SIGTERM (or, for subscribers, N events).
"""

import argparse
import asyncio
import json
import signal
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallOptions, CallResult, PublishOptions, RegisterOptions, SubscribeOptions

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

# The payload every peer sends: integers that need 64 bits, ids' upper bound 2^53, negatives, a
# float, unicode text, bytes with NUL and 0xff, and nested containers.
SAMPLE_ARGS = [2**40 + 5, 2**53, -(2**40), 7, 2.5, "text \u00e9 \u2713", b"\x00\x01\xfe\xff", [1, "a", 0.25], {"k": 2**33}]
SAMPLE_KWARGS = {"big": 2**52 + 1, "f": -0.5, "s": "x", "b": b"\xff\x00"}
ERROR_URI = "com.example.interop.error"


def typed(value):
    """The value with its Python type made explicit, as JSON: ints as decimal strings (exact)."""
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if value is None:
        return ["null"]
    if isinstance(value, (list, tuple)):
        return ["list", [typed(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", {str(k): typed(v) for k, v in value.items()}]
    return ["other", type(value).__name__]


def report(**fields):
    print(json.dumps(fields), flush=True)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_int(value, what):
    expect(type(value) is int, "{} is {} ({!r}), not int".format(what, type(value).__name__, value))


class Peer(ApplicationSession):
    """The role's coroutine runs on join; its failure is reported and ends the process."""

    async def onJoin(self, details):
        expect_int(details.session, "the session id in WELCOME")
        expect(isinstance(details.authid, str), "authid is {}".format(type(details.authid).__name__))
        expect(isinstance(details.authrole, str), "authrole is {}".format(type(details.authrole).__name__))
        options = self.config.extra["options"]
        try:
            await ROLES[options.role](self, options, details)
        except Exception as error:  # reported, then the process ends non-zero
            print("{}: {}".format(type(error).__name__, error), file=sys.stderr, flush=True)
            options.failed = True
            self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


async def callee(session, options, details):
    prefix = options.prefix

    def echo(*args, **kwargs):
        return CallResult(*args, **kwargs, received=typed([list(args), kwargs]))

    def fail(*args, **kwargs):
        raise ApplicationError(ERROR_URI, *SAMPLE_ARGS, **SAMPLE_KWARGS)

    async def progress(n, details=None):
        expect(details.progress is not None, "the caller did not ask for progressive results")
        for i in range(1, n + 1):
            details.progress(i, 2**40 + i, step=0.5)
        return CallResult("done", count=n)

    def values():
        return CallResult(*SAMPLE_ARGS, **SAMPLE_KWARGS)

    regs = [
        await session.register(echo, prefix + ".echo"),
        await session.register(fail, prefix + ".fail"),
        await session.register(progress, prefix + ".progress", RegisterOptions(details_arg="details")),
        await session.register(values, prefix + ".values"),
    ]
    for reg in regs:
        expect_int(reg.id, "a registration id")
    report(event="ready", session=typed(details.session))


async def shared_callee(session, options, details):
    """One of several callees of a shared registration: answers with its name."""

    def shared():
        report(event="invoked", name=options.name)
        return options.name

    registration = await session.register(shared, options.prefix + ".shared", RegisterOptions(invoke="roundrobin"))
    expect_int(registration.id, "a registration id")
    report(event="ready", session=typed(details.session))


async def caller(session, options, details):
    prefix = options.prefix

    # with a router-side timeout: the router passes it on in INVOCATION, where Python requires an int
    echoed = await session.call(prefix + ".echo", *SAMPLE_ARGS, options=CallOptions(timeout=60000), **SAMPLE_KWARGS)
    received_by_callee = echoed.kwresults.pop("received", None)

    values = await session.call(prefix + ".values")

    try:
        await session.call(prefix + ".fail", 1, "two")
        raise AssertionError("the call of .fail succeeded")
    except ApplicationError as error:
        failure = {"error": typed(error.error), "args": typed(list(error.args)), "kwargs": typed(error.kwargs)}

    progress = []
    final = await session.call(prefix + ".progress", 3, options=CallOptions(on_progress=lambda *a, **kw: progress.append([list(a), kw])))

    # the router's own answers: ids as int, authid/authrole as str
    sessions = await session.call("wamp.session.list")
    me = await session.call("wamp.session.get", details.session)
    registration = await session.call("wamp.registration.lookup", prefix + ".echo")

    report(
        event="report",
        session=typed(details.session),
        echoed=typed([list(echoed.results), echoed.kwresults]),
        received_by_callee=received_by_callee,
        values=typed([list(values.results), values.kwresults]),
        failure=failure,
        progress=typed(progress),
        final=typed([list(final.results), final.kwresults]),
        meta={"sessions": typed(sessions), "me": typed(me), "registration": typed(registration)},
    )
    session.leave()


async def reflector(session, options, details):
    """Reads the service's procedure reflection (wamp.reflection.*) and reports it as plain JSON."""
    procedures = await session.call("wamp.reflection.procedure.list")
    described = {uri: await session.call("wamp.reflection.procedure.describe", uri) for uri in procedures}
    topics = await session.call("wamp.reflection.topic.list")
    topic_descriptions = {uri: await session.call("wamp.reflection.topic.describe", uri) for uri in topics}
    errors = await session.call("wamp.reflection.error.list")
    error_descriptions = {uri: await session.call("wamp.reflection.error.describe", uri) for uri in errors}
    try:
        await session.call("wamp.reflection.procedure.describe", options.prefix + ".no_such")
        missing = None
    except ApplicationError as error:
        missing = error.error
    report(
        event="reflection",
        procedures=procedures,
        described=described,
        topics=topics,
        topic_descriptions=topic_descriptions,
        errors=errors,
        error_descriptions=error_descriptions,
        missing=missing,
    )
    session.leave()


async def subscriber(session, options, details):
    received = []

    def on_join(info):
        report(event="meta", topic="wamp.session.on_join", info=typed(info))

    def on_event(*args, details=None, **kwargs):
        expect_int(details.publication, "the publication id in EVENT")
        report(event="event", publication=typed(details.publication), payload=typed([list(args), kwargs]))
        received.append(details.publication)
        if len(received) == options.count:
            session.leave()

    await session.subscribe(on_join, "wamp.session.on_join")
    subscription = await session.subscribe(on_event, options.prefix + ".topic", SubscribeOptions(details_arg="details"))
    expect_int(subscription.id, "the subscription id")
    report(event="ready", session=typed(details.session))


async def publisher(session, options, details):
    publication = await session.publish(options.prefix + ".topic", *SAMPLE_ARGS, options=PublishOptions(acknowledge=True), **SAMPLE_KWARGS)
    expect_int(publication.id, "the publication id in PUBLISHED")
    report(event="published", publication=typed(publication.id))
    session.leave()


ROLES = {"callee": callee, "shared-callee": shared_callee, "caller": caller, "subscriber": subscriber, "publisher": publisher, "reflector": reflector}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--url", required=True)
    parser.add_argument("--realm", default="realm1")
    parser.add_argument("--serializer", choices=sorted(SERIALIZERS), required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--name", default="")
    parser.add_argument("--count", type=int, default=1)
    options = parser.parse_args()
    options.failed = False

    runner = ApplicationRunner(options.url, options.realm, extra={"options": options}, serializers=[SERIALIZERS[options.serializer]()])
    runner.run(Peer)
    sys.exit(1 if options.failed else 0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
