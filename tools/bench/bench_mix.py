"""The object kinds the benchmark targets build: an instance with attributes, a __slots__
object, a closure (with dicts, lists, tuples and sets made where they are used)."""


class User:
    def __init__(self, i):
        self.id = i
        self.name = "user%d" % i
        self.tags = []


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def make(i):
    def f():
        return i
    return f
