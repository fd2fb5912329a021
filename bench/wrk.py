"""Drive wrk with pre-built requests (a generated Lua script) and read its result as JSON."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

LUA = """
local requests = {}
%(requests)s
local counter, threads = 0, {}
local stride = 1
-- Globals, not locals: done() reads them from each thread's own Lua state with thread:get.
failures, throttled = 0, 0

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = offset or 0
  stride = %(threads)d
end

function request()
  counter = counter + stride
  return requests[(counter %% #requests) + 1]
end

function response(status, headers, body)
  if status == 429 then throttled = throttled + 1 end
  -- A GraphQL error is a non-empty "errors" list; a payload's empty `errors: []` is none.
  if status >= 300 or (body and string.find(body, '"errors"%%s*:%%s*%%[%%s*{')) then
    failures = failures + 1
  end
end

%(pacing)s
function done(summary, latency, requests)
  local failed, limited = 0, 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("failures") or 0)
    limited = limited + (thread:get("throttled") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.3f, "p95_ms": %%.3f, ' ..
    '"p99_ms": %%.3f, "failed": %%d, "throttled": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, failed, limited,
    e.connect + e.read + e.write + e.timeout))
end
"""


# A steady rate: wrk calls delay() before each request of a connection; each thread hands out
# send times on its own schedule (rate / threads per second), so a connection freed early waits
# for the next slot and one freed late sends at once (latency counts from the actual send).
PACING = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } tg_timeval;
int gettimeofday(tg_timeval *tv, void *tz);
]]
local clock = ffi.new("tg_timeval")
local interval, next_at = %(interval_ms)f, nil

local function now_ms()
  ffi.C.gettimeofday(clock, nil)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_usec) / 1000
end

function delay()
  local now = now_ms()
  next_at = next_at or now
  local wait = next_at - now
  next_at = next_at + interval
  return wait > 0 and wait or 0
end
"""


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: str = ""


def ensure_installed() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    # make bench installs its load generator on a bare Debian machine.
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return shutil.which("wrk") or "wrk"


def run(
    base_url: str, requests: Sequence[Request], script: Path, *, seconds: float,
    connections: int, threads: int = 2, rate: float | None = None,
) -> dict[str, float]:
    """Closed loop (each connection sends as soon as it is answered), or `rate` requests/s."""
    script.write_text(_lua(requests, threads, rate))
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), base_url],
        check=True, capture_output=True, text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    line = lines[-1]
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    result["errors"] = result["failed"] + result["socket_errors"]
    return result


CHUNK = 2000  # LuaJIT limits the constants of one function: build the table in chunks


def _lua(requests: Sequence[Request], threads: int, rate: float | None = None) -> str:
    chunks = []
    for number, start in enumerate(range(0, len(requests), CHUNK)):
        body = "\n".join(
            f"  requests[#requests + 1] = {_format(r)}" for r in requests[start:start + CHUNK]
        )
        chunks.append(f"function chunk_{number}()\n{body}\nend\nchunk_{number}()")
    pacing = PACING % {"interval_ms": 1000 * threads / rate} if rate else ""
    return LUA % {"requests": "\n".join(chunks), "threads": threads, "pacing": pacing}


def _format(request: Request) -> str:
    headers = ", ".join(f"[ {_string(k)} ] = {_string(v)}" for k, v in request.headers.items())
    body = _string(request.body) if request.body else "nil"
    return f"wrk.format({_string(request.method)}, {_string(request.path)}, {{{headers}}}, {body})"


def _string(value: str) -> str:
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    return f"[{'=' * level}[{value}]{'=' * level}]"
