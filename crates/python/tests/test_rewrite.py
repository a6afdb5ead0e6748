"""reroute: a method recompiled so that chosen calls go to a dispatcher,
and nothing else about it changes."""

import traceback

import pytest

from callorder.twisted._rewrite import reroute


class Greeter:
    def __init__(self, out):
        self.out = out

    def greet(self, name: str, punctuation: str = "!") -> str:
        text = "hello " + name + punctuation
        self.out.write(text)
        return text.upper()

    def fail(self):
        raise ValueError("from the original line")


def test_a_listed_call_goes_to_the_dispatcher_and_the_rest_runs_unchanged():
    seen = []

    def dispatch(key, owner, receiver, *args):
        seen.append((key, owner, receiver, args))
        return getattr(receiver, "write")(*args)

    class Out:
        def write(self, text):
            seen.append(("wrote", text))

    greet = reroute(Greeter, "greet", {("self.out", "write"): "k"}, dispatch)
    g = Greeter(Out())
    assert greet(g, "you") == "HELLO YOU!"
    assert seen[0] == ("k", g, g.out, ("hello you!",))
    assert seen[1] == ("wrote", "hello you!")
    # Defaults, names and docs are the original's.
    assert greet.__defaults__ == ("!",) and greet.__qualname__ == "Greeter.greet"


def test_tracebacks_point_at_the_original_lines():
    fail = reroute(Greeter, "fail", {}, lambda *a: None)
    with pytest.raises(ValueError) as raised:
        fail(Greeter(None))
    frame = traceback.extract_tb(raised.tb)[-1]
    assert frame.filename == __file__ and frame.line == 'raise ValueError("from the original line")'


def test_a_site_the_method_no_longer_has_is_refused():
    with pytest.raises(RuntimeError, match=r"no longer calls self\.out\.flush\(\)"):
        reroute(Greeter, "greet", {("self.out", "flush"): "k"}, lambda *a: None)
