"""agentos sandbox driver.

Runs inside the sandboxed interpreter and turns it into a notebook kernel driven by the host over
file descriptor 3 (a Unix socket): each frame is a 4-byte big-endian length and a JSON object.

Host to driver:  init {tools, library, output_limit} | exec {code} | reply {id, ok, text}
Driver to host:  ready {library_failures} | call {id, name, arguments}
                 | done {value, exception, final_answer, functions, library_calls, library_raised}

`functions` are the top-level functions a cell defined (name, signature, docstring, source), for
the host's action library. Each source is self-contained: the top-level imports of this
interpreter's cells that the function uses and the other top-level functions it calls (and what
they use in turn) come before its own `def`. `library` holds such functions from earlier runs,
each defined at start in a module namespace of its own, checked to define its function and to
leave no global name unresolved, and wrapped so that `library_calls` and `library_raised` count,
per cell, how often each was called and how many of those calls raised.

Output of the code goes to the real file descriptors 1 and 2, which the host reads and caps; the
driver never writes to them, so nothing the code prints can be mistaken for a frame.
"""

import ast
import builtins
import functools
import json
import linecache
import os
import struct
import symtable
import sys
import threading
import traceback
import types

_FD = 3
_DRIVER_FILE = "<agentos-driver>"
_lock = threading.Lock()
_state = {"final": None, "calls": 0, "cells": 0, "limit": 16384, "library_calls": {}, "library_raised": {}, "bound": 0}
# The code runs in a real __main__ module, so pickle, dataclasses and typing find what it defines.
_main_module = types.ModuleType("__main__")
_main_module.__builtins__ = builtins
_namespace = _main_module.__dict__


def _read_exact(size):
    chunks = []
    while size:
        chunk = os.read(_FD, size)
        if not chunk:
            os._exit(0)  # the host is gone: nothing left to serve
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame():
    (size,) = struct.unpack(">I", _read_exact(4))
    return json.loads(_read_exact(size))


def _write_frame(frame):
    data = json.dumps(frame).encode("utf-8")
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(_FD, view) :]


def _clip(text):
    """Cuts text to the output limit in UTF-8 bytes, keeping its head and tail."""
    data = str(text).encode("utf-8", "backslashreplace")
    limit = _state["limit"]
    if len(data) <= limit:
        return {"head": data.decode("utf-8"), "tail": "", "omitted": 0}
    half = limit // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - (limit - half) :].decode("utf-8", "ignore")
    return {"head": head, "tail": tail, "omitted": len(data) - limit}


class ToolError(Exception):
    """A kernel tool refused the call or failed; the message says why."""


class _FinalAnswer(BaseException):
    """Ends the current execution after final_answer(); not an Exception, so `except Exception` lets it pass."""


def final_answer(value):
    """Records `value` as the final answer of the run and ends this execution."""
    _state["final"] = value if isinstance(value, str) else repr(value)
    raise _FinalAnswer()


def _call(name, arguments):
    try:
        json.dumps(arguments, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the arguments of {name}() must be JSON values (str, int, float, bool, None, list, dict): {exc}") from None
    with _lock:
        _state["calls"] += 1
        call_id = _state["calls"]
        _write_frame({"type": "call", "id": call_id, "name": name, "arguments": arguments})
        reply = _read_frame()
    if reply.get("type") != "reply" or reply.get("id") != call_id:
        raise RuntimeError(f"sandbox protocol: the host answered call {call_id} to {name}() with {reply!r}")
    if reply["ok"]:
        return reply["text"]
    raise ToolError(reply["text"])


def _tool_function(spec):
    name = spec["name"]
    schema = spec.get("parameters")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = [p for p in schema.get("required") or [] if isinstance(p, str)]
    order = required + [p for p in properties if p not in required]

    def tool(*args, **kwargs):
        if len(args) > len(order):
            raise TypeError(f"{name}() takes at most {len(order)} positional arguments ({len(args)} given); its parameters are {order}")
        arguments = dict(zip(order, args))
        for key, value in kwargs.items():
            if key in arguments:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            arguments[key] = value
        # An optional parameter given as None is left out, so that the tool's default applies.
        arguments = {key: value for key, value in arguments.items() if value is not None or key in required}
        return _call(name, arguments)

    lines = [spec.get("description") or ""]
    for param in order:
        about = properties.get(param)
        about = about if isinstance(about, dict) else {}
        kind = about.get("type", "any")
        note = "" if param in required else ", optional"
        lines.append(f"  {param} ({kind}{note}): {about.get('description', '')}".rstrip())
    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = "\n".join(lines) + "\nReturns the tool's result as a string; raises ToolError if the tool refuses or fails."
    return tool


def _counted(name, function):
    """`function`, wrapped so that each call adds one to this cell's count for `name`, and each call
    that raises (anything but final_answer's ending) one to its count of raised calls."""

    @functools.wraps(function)
    def counted(*args, **kwargs):
        calls = _state["library_calls"]
        calls[name] = calls.get(name, 0) + 1
        try:
            return function(*args, **kwargs)
        except _FinalAnswer:
            raise
        except BaseException:
            raised = _state["library_raised"]
            raised[name] = raised.get(name, 0) + 1
            raise

    return counted


def _global_reads(source):
    """The global names `source`, run as a module, reads without binding them itself: what its
    top level reads (decorators, defaults, annotations) and the globals its functions, lambdas,
    classes and comprehensions read."""
    top = symtable.symtable(source, "<library>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    reads = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    pending = list(top.get_children())
    while pending:
        table = pending.pop()
        pending.extend(table.get_children())
        reads.update(s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced())
    return reads - bound


def _define_library(functions):
    """Defines each library function from its source, each in a module namespace of its own (the
    tools and the sandbox's functions, then what its source binds), and binds its name here;
    returns {name: error} for those whose source fails, does not define the function, or reads a
    global name that is neither a builtin nor bound in its namespace."""
    base = dict(_namespace)
    failures = {}
    for spec in functions:
        name, source = spec["name"], spec["source"]
        if name in _namespace:
            failures[name] = "its name is taken by a tool or the sandbox's own function"
            continue
        filename = f"<library:{name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        scope = dict(base)
        try:
            exec(compile(source, filename, "exec"), scope)
            function = scope.get(name)
            if not callable(function):
                raise TypeError(f"its source does not define a function named {name}")
            reads = _global_reads(source)
            missing = sorted(n for n in reads if n not in scope and not hasattr(builtins, n))
            if missing:
                raise NameError(
                    f"it uses {', '.join(missing)}, which its source neither imports nor defines and which are not builtins"
                )
        except BaseException as exc:
            failures[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            continue
        _namespace[name] = _counted(name, function)
        _bind(name, _namespace[name], source, reads)
    return failures


class _Binding:
    """What a top-level name of this interpreter was bound to by an import or a function
    definition, as a kept function that uses the name needs it: the statements that bind it
    (`text`), the global names those read (`needs`), the `__future__` imports they were compiled
    with, the object bound, and when it was bound."""

    __slots__ = ("value", "text", "needs", "future", "order", "is_import")

    def __init__(self, value, text, needs, future, is_import):
        _state["bound"] += 1
        self.value, self.text, self.needs, self.future, self.is_import = value, text, needs, future, is_import
        self.order = _state["bound"]


# name -> _Binding, for the names still bound to what their import or definition bound.
_bindings = {}
_UNBOUND = object()


def _bind(name, value, text, needs, future=(), is_import=False):
    """Records that `name` is now bound to `value` by `text`."""
    previous = _bindings.get(name)
    if is_import and previous is not None and previous.is_import and previous.value is value and text not in previous.text:
        text = previous.text + "\n" + text  # `import a.b` then `import a.c`: both bind `a`
    _bindings[name] = _Binding(value, text, needs, future, is_import)


def _note_imports(tree):
    """Records the top-level imports of a cell that ran, each name only if it is still bound to what
    its import statement binds; forgets the names bound to something else since."""
    for name in [name for name, binding in _bindings.items() if _namespace.get(name, _UNBOUND) is not binding.value]:
        del _bindings[name]
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.partition(".")[0]
                name = alias.asname or top
                bound = sys.modules.get(alias.name if alias.asname else top)
                text = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                if bound is not None and _namespace.get(name) is bound:
                    _bind(name, bound, text, (), is_import=True)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            module = sys.modules.get(node.module)
            for alias in node.names:
                if alias.name == "*":
                    continue
                name = alias.asname or alias.name
                bound = getattr(module, alias.name, sys.modules.get(f"{node.module}.{alias.name}"))
                text = f"from {node.module} import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                if bound is not None and _namespace.get(name) is bound:
                    _bind(name, bound, text, (), is_import=True)


def _self_contained(name):
    """The source of the function bound to `name`, preceded by what it needs of this interpreter's
    bindings: the imports it (or a function it needs) uses and the functions it calls, each once, in
    the order they were bound."""
    root = _bindings[name]
    parts = {name: root}
    pending = list(root.needs)
    while pending:
        need = pending.pop()
        if need not in parts and need in _bindings:
            parts[need] = _bindings[need]
            pending.extend(_bindings[need].needs)
    if len(parts) == 1:
        return root.text
    ordered = sorted((b for n, b in parts.items() if n != name), key=lambda b: b.order)
    future = sorted({line for b in parts.values() for line in b.future})
    imports = [b.text for b in ordered if b.is_import]
    blocks = ["\n".join(future + imports)] + [b.text.rstrip("\n") for b in ordered if not b.is_import] + [root.text.rstrip("\n")]
    return "\n\n".join(block for block in blocks if block) + "\n"


def _defines_functions(tree):
    """Whether a cell has top-level function definitions."""
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in tree.body)


def _definitions(tree, code, filename):
    """The top-level functions of a cell that the cell itself bound to their names, each with a
    self-contained source (see _self_contained); notes the cell's imports and functions as this
    interpreter's bindings."""
    import inspect  # only cells that define functions pay for it

    future = tuple(
        "from __future__ import " + ", ".join(alias.name for alias in node.names)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
    )
    lines = code.splitlines(True)
    found = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        function = _namespace.get(node.name)
        try:
            unwrapped = inspect.unwrap(function)
        except BaseException:
            continue
        code_object = getattr(unwrapped, "__code__", None)
        if code_object is None or code_object.co_filename != filename:
            continue  # the statement did not run, or the name was bound to something else later
        start = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
        try:
            signature = node.name + str(inspect.signature(function))
        except (TypeError, ValueError):
            signature = node.name + "(...)"
        source = "".join(lines[start - 1 : node.end_lineno])
        try:
            needs = _global_reads("\n".join(future + (source,)))
        except (SyntaxError, ValueError):
            needs = set()
        _bind(node.name, function, source, needs, future)
        found.pop(node.name, None)
        found[node.name] = {"name": node.name, "signature": signature, "docstring": ast.get_docstring(node) or ""}
    for definition in found.values():
        definition["source"] = _self_contained(definition["name"])
    return list(found.values())


def _without_driver_frames(exc):
    """A TracebackException of exc (and its causes) without the driver's own frames."""
    summary = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    pending, seen = [summary], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frames = [frame for frame in current.stack if frame.filename != _DRIVER_FILE]
        current.stack = traceback.StackSummary.from_list(frames)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return summary


def _describe(exc, with_stack=True):
    try:
        message = str(exc)
    except BaseException as failure:  # a broken __str__ must not break the report
        message = f"<str() of the exception failed: {type(failure).__name__}>"
    try:
        text = "".join(_without_driver_frames(exc).format() if with_stack else traceback.format_exception_only(type(exc), exc))
    except BaseException:
        text = "".join(traceback.format_exception_only(type(exc), exc))
    return {"type": type(exc).__name__, "message": _clip(message), "traceback": _clip(text)}


def _run(code):
    _state["cells"] += 1
    filename = f"<cell-{_state['cells']}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    _state["final"] = None
    _state["library_calls"] = {}
    _state["library_raised"] = {}
    frame = {"type": "done"}
    try:
        tree = ast.parse(code, filename, "exec")
    except BaseException as exc:  # SyntaxError, or ValueError for NUL bytes: the code never ran, so no stack
        frame["exception"] = _describe(exc, with_stack=False)
        return frame
    try:
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, filename, "exec"), _namespace)
        if last is not None:
            value = eval(compile(last, filename, "eval"), _namespace)
            if value is not None:
                _namespace["_"] = value
                try:
                    shown = repr(value)
                except BaseException as failure:
                    shown = f"<repr() of the {type(value).__name__} failed: {type(failure).__name__}: {failure}>"
                frame["value"] = _clip(shown)
    except _FinalAnswer:
        pass
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are observations too
        frame["exception"] = _describe(exc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    if _state["final"] is not None:
        frame["final_answer"] = _clip(_state["final"])
    if _state["library_calls"]:
        frame["library_calls"] = _state["library_calls"]
    if _state["library_raised"]:
        frame["library_raised"] = _state["library_raised"]
    try:
        _note_imports(tree)
        functions = _definitions(tree, code, filename) if _defines_functions(tree) else []
    except BaseException:  # e.g. MemoryError: the cell's own result matters more
        functions = []
    if functions:
        frame["functions"] = functions
    return frame


def _main():
    sys.argv = [""]
    sys.modules["__main__"] = _main_module
    init = _read_frame()
    _state["limit"] = int(init["output_limit"])
    _namespace["final_answer"] = final_answer
    _namespace["ToolError"] = ToolError
    for spec in init["tools"]:
        _namespace[spec["name"]] = _tool_function(spec)
    failures = _define_library(init.get("library") or [])
    _write_frame({"type": "ready", "library_failures": failures})
    while True:
        request = _read_frame()
        if request["type"] != "exec":
            raise SystemExit(f"sandbox protocol: unexpected frame {request['type']!r}")
        try:
            frame = _run(request["code"])
        except BaseException as exc:  # e.g. MemoryError while building the report
            frame = {"type": "done", "exception": {"type": type(exc).__name__, "message": _clip("the driver failed to report the result"), "traceback": _clip("")}}
        _write_frame(frame)


_main()
