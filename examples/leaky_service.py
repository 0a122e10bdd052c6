"""A small "service" that leaks, for objspy's demo.

It handles fake requests in a loop. Three things pile up, as they do in real services:
- a response cache that only grows (Request and Response objects, one dict entry each);
- event handlers attached per request and never detached (bound methods in a list);
- reference cycles between Session objects that nothing frees while the collector is off.
Buffers come and go with load, so their count goes up and down but does not grow.

Run it and look from outside:  objspy dump -- python3 examples/leaky_service.py
"""
import gc
import itertools
import math
import sys
import time

RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0  # requests per second


class Request:
    def __init__(self, rid, path):
        self.rid = rid
        self.path = path
        self.headers = {"x-request-id": str(rid)}


class Response:
    def __init__(self, request, body):
        self.request = request
        self.body = body


class Session:
    def __init__(self, user):
        self.user = user
        self.peer = None


class Buffer:
    __slots__ = ("data",)

    def __init__(self, n):
        self.data = [0] * n


class EventBus:
    def __init__(self):
        self.handlers = []

    def subscribe(self, handler):
        self.handlers.append(handler)  # never unsubscribed: the leak


class Handler:
    def __init__(self, rid):
        self.rid = rid

    def on_event(self, event):
        return self.rid


CACHE = {}
BUS = EventBus()
buffers = []


def handle(rid):
    req = Request(rid, "/items/%d" % (rid % 1000))
    CACHE[(req.path, rid)] = Response(req, {"ok": True})  # key includes rid: never hits
    if rid % 10 == 0:
        BUS.subscribe(Handler(rid).on_event)
    if rid % 50 == 0:
        a, b = Session("u%d" % rid), Session("v%d" % rid)
        a.peer, b.peer = b, a  # a cycle; with the collector off it is never freed


def main():
    gc.disable()
    start = time.monotonic()
    for rid in itertools.count():
        handle(rid)
        # Buffers follow a load wave: up for a while, then down again.
        want = int(50 + 40 * math.sin((time.monotonic() - start) / 5.0))
        while len(buffers) < want:
            buffers.append(Buffer(8))
        while len(buffers) > want:
            buffers.pop()
        time.sleep(1.0 / RATE)


if __name__ == "__main__":
    main()
