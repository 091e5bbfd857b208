#!/usr/bin/env python3
"""The Python side of the interop test: drives the REAL async-caches 0.3.0 (aioredis 1.3.1).

Run it with the project's venv (`make deps` creates it): `.venv/bin/python scripts/seed_interop.py CMD ...`

Commands (each takes --host H --port P --db N, optionally --password and --vectors FILE):
  write  clears the db, then performs every case of wire-vectors.json (its `ops`, as calls on a Cache
         configured like the case's `config`).
  read   reads every case that has a value back through async-caches (with the case's config and version)
         and prints one JSON object per line: {"case", "key", "raw_key_hex", "value", "type"}.
  dump   prints {"raw_key_hex", "raw_value_hex", "ttl"} per key of the db, sorted by key bytes.

Exits non-zero with a message on stderr on any failure.
"""

import argparse
import ast
import asyncio
import json
import os
import sys
from urllib.parse import quote

try:
    import aioredis
    from caches import Cache
except ImportError as error:  # pragma: no cover - only without the venv
    sys.exit(f"seed_interop: cannot import async-caches/aioredis ({error}): run `make deps` and use .venv/bin/python")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_VECTORS = os.path.join(REPO_ROOT, "Tests", "CachesTests", "Fixtures", "wire-vectors.json")

# How each `config` name of the vectors builds its Cache, inferred from their raw keys and TTL rules:
#   plain        ::key                               no default TTL
#   prefixed     interop::key                        no default TTL
#   prefix_v2    interop:2:key                       no default TTL
#   version_str  :v1:key                             no default TTL
#   url_opts     urlp:9:key                          TTL 300 from the URL
#   kwarg_ttl    interop::key                        TTL 450 from the keyword
# "query" is appended to the redis:// URL, "kwargs" go to Cache(...).
CONFIGS = {
    "plain": {"query": "", "kwargs": {}},
    "prefixed": {"query": "", "kwargs": {"key_prefix": "interop"}},
    "prefix_v2": {"query": "", "kwargs": {"key_prefix": "interop", "version": 2}},
    "version_str": {"query": "", "kwargs": {"version": "v1"}},
    "url_opts": {"query": "key_prefix=urlp&version=9&ttl=300", "kwargs": {}},
    "kwarg_ttl": {"query": "", "kwargs": {"key_prefix": "interop", "ttl": 450}},
}

# The Cache methods a case's `ops` may call.
ALLOWED_CALLS = {
    "get", "set", "add", "get_or_set", "get_many", "set_many", "delete", "delete_many",
    "clear", "touch", "incr", "decr",
}


class InteropError(Exception):
    """A failure with a message meant for the person running the script."""


def base_url(args, query=""):
    auth = f":{quote(args.password, safe='')}@" if args.password else ""
    url = f"redis://{auth}{args.host}:{args.port}/{args.db}"
    return f"{url}?{query}" if query else url


def load_cases(path):
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, ValueError) as error:
        raise InteropError(f"cannot load vectors {path}: {error}") from error
    cases = document.get("cases")
    if not isinstance(cases, list) or not cases:
        raise InteropError(f"{path} has no cases")
    for case in cases:
        if case.get("config") not in CONFIGS:
            raise InteropError(f"case {case.get('case')!r}: unknown config {case.get('config')!r}")
    return cases


def parse_ops(ops):
    """Splits `ops` into (method, args, kwargs) calls with `ast`, so `;` inside string literals is safe."""
    try:
        module = ast.parse(ops, mode="exec")
    except SyntaxError as error:
        raise InteropError(f"cannot parse ops {ops!r}: {error}") from error
    calls = []
    for statement in module.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise InteropError(f"ops {ops!r}: every statement must be a plain call like set('k', 1)")
        name = call.func.id
        if name not in ALLOWED_CALLS:
            raise InteropError(f"ops {ops!r}: {name}() is not a Cache method")
        try:
            args = [ast.literal_eval(argument) for argument in call.args]
            kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
        except ValueError as error:
            raise InteropError(f"ops {ops!r}: arguments must be literals ({error})") from error
        if None in kwargs:
            raise InteropError(f"ops {ops!r}: **kwargs are not supported")
        calls.append((name, args, kwargs))
    if not calls:
        raise InteropError(f"ops {ops!r} has no call")
    return calls


async def open_caches(args, names):
    caches = {}
    try:
        for name in names:
            config = CONFIGS[name]
            cache = Cache(base_url(args, config["query"]), **config["kwargs"])
            await cache.connect()
            caches[name] = cache
    except BaseException:
        await close_caches(caches)
        raise
    return caches


async def close_caches(caches):
    for cache in caches.values():
        await cache.disconnect()


async def raw_connection(args):
    return await aioredis.create_connection(base_url(args))


async def command_write(args):
    cases = load_cases(args.vectors)
    connection = await raw_connection(args)
    try:
        await connection.execute("FLUSHDB")
    finally:
        connection.close()
        await connection.wait_closed()
    caches = await open_caches(args, sorted({case["config"] for case in cases}))
    try:
        done = set()
        for case in cases:
            # A case with several keys (set_many, delete_many) appears once per key: run its ops once.
            identity = (case["case"], case["config"], case["ops"])
            if identity in done:
                continue
            done.add(identity)
            cache = caches[case["config"]]
            for name, call_args, call_kwargs in parse_ops(case["ops"]):
                try:
                    await getattr(cache, name)(*call_args, **call_kwargs)
                except Exception as error:
                    raise InteropError(f"case {case['case']!r}: {name}() failed: {error!r}") from error
        print(f"seed_interop: wrote {len(done)} cases", file=sys.stderr)
    finally:
        await close_caches(caches)


def type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, kind):
            return name
    raise InteropError(f"unexpected Python type {type(value).__name__}")


async def command_read(args):
    cases = [case for case in load_cases(args.vectors) if case.get("raw_value") is not None]
    caches = await open_caches(args, sorted({case["config"] for case in cases}))
    missing = object()
    try:
        for case in cases:
            cache = caches[case["config"]]
            try:
                value = await cache.get(case["key"], missing, version=case.get("version"))
            except Exception as error:
                raise InteropError(f"case {case['case']!r}: get({case['key']!r}) failed: {error!r}") from error
            if value is missing:
                raise InteropError(f"case {case['case']!r}: key {case['key']!r} is not in the cache")
            record = {
                "case": case["case"],
                "key": case["key"],
                "raw_key_hex": cache.make_key(case["key"], case.get("version")).encode("utf-8").hex(),
                "value": value,
                "type": type_name(value),
            }
            print(json.dumps(record), flush=True)
    finally:
        await close_caches(caches)


async def command_dump(args):
    connection = await raw_connection(args)
    try:
        keys = []
        cursor = b"0"
        while True:
            cursor, batch = await connection.execute("SCAN", cursor, "COUNT", 1000)
            keys.extend(batch)
            if cursor in (b"0", 0, "0"):
                break
        for key in sorted(set(keys)):
            value = await connection.execute("GET", key)
            ttl = await connection.execute("TTL", key)
            record = {
                "raw_key_hex": key.hex(),
                "raw_value_hex": value.hex() if value is not None else None,
                "ttl": ttl,
            }
            print(json.dumps(record), flush=True)
    finally:
        connection.close()
        await connection.wait_closed()


COMMANDS = {"write": command_write, "read": command_read, "dump": command_dump}


def main(argv):
    parser = argparse.ArgumentParser(description="async-caches interop driver (see the module docstring)")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=int, default=0)
    parser.add_argument("--password", default=os.environ.get("SEED_INTEROP_PASSWORD"))
    parser.add_argument("--vectors", default=DEFAULT_VECTORS)
    args = parser.parse_args(argv)
    try:
        asyncio.run(COMMANDS[args.command](args))
    except InteropError as error:
        print(f"seed_interop {args.command}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # connection refused, protocol errors, ...
        print(f"seed_interop {args.command}: error: {error!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
