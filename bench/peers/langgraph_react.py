"""LangGraph peer benchmark: N prebuilt ReAct agents against a simulated model.

Run by `agentos bench kernel`, which starts its simulated OpenAI-compatible
model server on loopback and runs this script next to the agentos kernel so
the two can be compared side by side. It measures how long LangGraph's
`create_react_agent` takes to drive N concurrent agents (one asyncio task
each, one shared ChatOpenAI client) through S model calls and S-1 tool calls
apiece, i.e. the orchestration overhead on top of the server's simulated
latency. Before the clock starts, N concurrent model calls warm the connection
pool (agentos does the same).

Server protocol (POST {base_url}/chat/completions): the server counts the
role="tool" messages k in the request; while k < S-1 it answers one
`calculator` tool call with expression "<k>+1", otherwise the content "done".
This script does not need to know S up front: each agent runs until the model
stops calling tools, and the final state is then checked against --steps.

Usage:
    python langgraph_react.py --base-url http://127.0.0.1:PORT/v1 --agents N --steps S
        [--http-client aiohttp|httpx]

Prints exactly one JSON line on stdout; progress and diagnostics go to stderr.
Exits non-zero if the server is unreachable or any agent failed.
"""

import argparse
import ast
import asyncio
import json
import operator
import os
import sys
import time
import warnings
from fractions import Fraction
from importlib.metadata import version
from urllib.parse import urlsplit

# Never send traces anywhere: this is a loopback-only measurement.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
# create_react_agent is deprecated in favour of langchain.agents.create_agent,
# but it is still LangGraph's prebuilt ReAct agent; keep stderr readable.
warnings.filterwarnings("ignore", category=DeprecationWarning)

# openai>=3 is built on httpx2, older openai on httpx; the client handed to
# ChatOpenAI must come from the same library.
try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older openai SDK
    import httpx

import openai
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub,
        ast.Mult: operator.mul, ast.Div: operator.truediv}


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(str(node.value))
    raise ValueError(f"unsupported syntax: {ast.dump(node)}")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression (numbers, + - * / and parentheses) exactly."""
    return str(_eval(ast.parse(expression, mode="eval")))


def log(msg: str) -> None:
    print(f"[langgraph_react] {msg}", file=sys.stderr, flush=True)


async def check_reachable(base_url: str) -> None:
    u = urlsplit(base_url)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(u.hostname, port), 5)
    except (OSError, asyncio.TimeoutError) as e:
        sys.exit(f"langgraph_react: model server unreachable at {u.hostname}:{port} ({e!r})")
    w.close()


def check_state(state: dict, steps: int) -> tuple[int, int, str | None]:
    """Returns (ai_messages, tool_messages, error or None) for one agent."""
    msgs = state["messages"]
    ais = [m for m in msgs if isinstance(m, AIMessage)]
    tools = [m for m in msgs if isinstance(m, ToolMessage)]
    if len(ais) != steps or len(tools) != steps - 1:
        return len(ais), len(tools), f"{len(ais)} AI / {len(tools)} tool messages"
    if ais[-1].content != "done":
        return len(ais), len(tools), f"last AI content {ais[-1].content!r}"
    return len(ais), len(tools), None


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8088/v1")
    ap.add_argument("--agents", type=int, required=True, help="concurrent agents N")
    ap.add_argument("--steps", type=int, required=True, help="model calls per agent S")
    ap.add_argument("--http-client", choices=("aiohttp", "httpx"), default="aiohttp",
                    help="transport under the OpenAI SDK (default: aiohttp)")
    args = ap.parse_args()
    n, s = args.agents, args.steps
    if n < 1 or s < 1:
        ap.error("--agents and --steps must be >= 1")

    await check_reachable(args.base_url)

    # One pooled client sized so that all N agents can have a request in
    # flight at once (openai's default pool keeps only 100 idle connections).
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    if args.http_client == "aiohttp":
        # The SDK's recommended transport for high concurrency. httpcore's
        # pool scans every idle connection on each request (O(N) per call).
        http_client = openai.DefaultAioHttpClient(limits=limits, timeout=600,
                                                  trust_env=False)
    else:
        http_client = httpx.AsyncClient(limits=limits, timeout=600, trust_env=False)
    model = ChatOpenAI(model="sim", base_url=args.base_url, api_key="unused",
                       max_retries=0, timeout=600, http_async_client=http_client)
    agent = create_react_agent(model, [calculator])
    config = {"recursion_limit": 4 * s + 10}

    # Warm-up, untimed, exactly as agentos does: N concurrent model calls fill
    # the connection pool, so the timed run measures orchestration, not the
    # one-off cost of opening N connections at once.
    log(f"warming up {n} connections")
    await asyncio.gather(*(model.ainvoke("warm up") for _ in range(n)))

    log(f"running {n} agents x {s} steps against {args.base_url} ({args.http_client})")
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(agent.ainvoke({"messages": [("user", f"task {i}")]}, config=config)
          for i in range(n)),
        return_exceptions=True)
    wall = time.perf_counter() - t0
    await http_client.aclose()

    model_calls = tool_calls = failures = 0
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            err = f"{type(r).__name__}: {r}"
        else:
            a, t, err = check_state(r, s)
            model_calls += a
            tool_calls += t
        if err:
            failures += 1
            if failures <= 5:
                log(f"agent {i} failed: {err}")

    print(json.dumps({
        "peer": "langgraph", "langgraph_version": version("langgraph"),
        "agents": n, "steps": s, "wall_s": round(wall, 6),
        "model_calls": model_calls, "tool_calls": tool_calls, "failures": failures,
    }), flush=True)
    log(f"wall {wall:.3f}s, {model_calls / wall:.1f} model calls/s, {failures} failures")
    if failures:
        log(f"FAILED: {failures} of {n} agents did not finish as expected")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
