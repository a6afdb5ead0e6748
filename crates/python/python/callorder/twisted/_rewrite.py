"""Routing the calls Twisted's own code makes into application objects.

The reactor reaches a factory or a protocol from inside its own methods
(``self.factory.doStart()`` in ``BaseConnector.connect``,
``self.protocol.dataReceived(data)`` in ``Connection._dataReceived``). To
see those calls exactly, with nothing of Twisted's code before or after
them counted as part of the callback, :func:`reroute` compiles a new
version of such a method from Twisted's installed source in which each
chosen call ``RECEIVER.NAME(ARGS)`` becomes ``_callorder_site(KEY, self,
RECEIVER, ARGS)``; everything else is Twisted's code, unchanged, in its
own module's globals and with its own line numbers (tracebacks point into
Twisted's files as before).

Nothing is stored on application objects, and the attribute is looked up
at call time as Twisted does, so duck-typed factories, methods assigned on
an instance after construction and classes that override ``__setattr__``
behave exactly as they do without the recorder.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable, Mapping

#: The name of the dispatcher in the globals of each rerouted module.
SITE = "_callorder_site"


class _Reroute(ast.NodeTransformer):
    def __init__(self, sites: Mapping[tuple[str, str], str]) -> None:
        self.sites = sites
        self.found: set[tuple[str, str]] = set()

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute):
            return node
        where = (ast.unparse(func.value), func.attr)
        key = self.sites.get(where)
        if key is None:
            return node
        self.found.add(where)
        call = ast.Call(
            func=ast.Name(id=SITE, ctx=ast.Load()),
            args=[ast.Constant(key), ast.Name(id="self", ctx=ast.Load()), func.value, *node.args],
            keywords=node.keywords,
        )
        return ast.copy_location(call, node)


def _strip_annotations(fn: ast.FunctionDef) -> None:
    # Annotations may name what only a type checker imports; the new
    # function needs none of them.
    fn.returns = None
    args = fn.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            a.annotation = None


def reroute(
    owner: type,
    name: str,
    sites: Mapping[tuple[str, str], str],
    dispatch: Callable[..., Any],
) -> Callable[..., Any]:
    """A version of ``owner.name`` whose calls listed in ``sites`` go to ``dispatch``.

    ``sites`` maps ``(receiver source, method name)``, e.g.
    ``("self.factory", "doStart")``, to the key ``dispatch`` receives
    first. Every listed site must occur in the method (else Twisted's code
    is not the one this recorder was written for, and it refuses).
    """
    original = owner.__dict__[name]
    source = textwrap.dedent(inspect.getsource(original))
    tree = ast.parse(source)
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        raise TypeError(f"{owner.__qualname__}.{name} is not a plain function")
    fn.decorator_list = []
    _strip_annotations(fn)
    transformer = _Reroute(sites)
    transformer.visit(fn)
    missing = set(sites) - transformer.found
    if missing:
        raise RuntimeError(
            f"{owner.__module__}.{owner.__qualname__}.{name} no longer calls "
            + ", ".join(f"{r}.{m}()" for r, m in sorted(missing))
            + "; this recorder follows Twisted 26.10"
        )
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, original.__code__.co_firstlineno - 1)
    code = compile(tree, inspect.getsourcefile(original) or "<twisted>", "exec")
    module_globals = original.__globals__
    module_globals[SITE] = dispatch
    made: dict[str, Any] = {}
    # The module's globals, so the new function sees later changes to them
    # (tests patch module attributes); the definition itself lands in `made`.
    exec(code, module_globals, made)
    new = made[fn.name]
    new.__defaults__ = original.__defaults__
    new.__kwdefaults__ = original.__kwdefaults__
    new.__qualname__ = original.__qualname__
    new.__doc__ = original.__doc__
    new.__wrapped__ = original
    return new
