"""The guarded HTTP client's own cost: CPU per page fetched, the way the extractor and the fetcher fetch.

    .venv/bin/python -m benchmarks.http_client [--requests 500] [--bytes 20000] [--json]

A local asyncio server answers every request with an HTML page of `--bytes` and closes the connection (as
many outlets do between the fetcher's visits: each fetch is a new connection, resolved and checked by the
SSRF guard). The client is services.common.http.SafeHttpClient, allowed onto loopback. It prints the process
CPU per GET after a warm-up, the server's share included (the same in every run), and whether the HTTP stack
searched for a module on the way (httpcore asks for sniffio on every lock and request: without it installed
each ask is a failed import that searches sys.path, ~0.9 ms per GET here).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import ipaddress
import json
import sys
import time
from types import ModuleType

from services.common.http import SafeHttpClient


class _Searches(importlib.abc.MetaPathFinder):
    """Counts the imports that reach the finders (a module not loaded yet, or one that is missing)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: object, target: ModuleType | None = None) -> None:
        self.names.append(fullname)


async def run(requests: int, size: int) -> dict[str, object]:
    """Fetch `requests` pages of `size` bytes from a local server; CPU per GET and the modules searched."""
    body = b"<html><body><p>" + b"x" * size + b"</p></body></html>"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    searches = _Searches()
    async with server, SafeHttpClient(allowed_networks=[ipaddress.ip_network("127.0.0.1/32")],
                                      allowed_ports=[port], timeout_s=5) as client:
        for i in range(50):
            await client.get(f"http://127.0.0.1:{port}/warm/{i}", max_bytes=size * 2)
        sys.meta_path.insert(0, searches)
        try:
            started = time.process_time()
            for i in range(requests):
                await client.get(f"http://127.0.0.1:{port}/page/{i}", max_bytes=size * 2)
            cpu = time.process_time() - started
        finally:
            sys.meta_path.remove(searches)
    return {"requests": requests, "page_bytes": len(body), "cpu_ms_per_get": round(cpu / requests * 1000, 3),
            "module_searches_per_get": round(len(searches.names) / requests, 2),
            "modules_searched": sorted(set(searches.names))}


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--bytes", type=int, default=20_000, help="page size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.bytes))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['requests']} GETs of {result['page_bytes']:,} B pages, each on a new connection: "
          f"{result['cpu_ms_per_get']} ms CPU per GET (client and server); "
          f"{result['module_searches_per_get']} module searches per GET {result['modules_searched'] or ''}")


if __name__ == "__main__":
    main()
