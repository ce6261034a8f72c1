"""A streaming response that notices a client going away, whatever the ASGI server's spec version.

Starlette stops listening for disconnects under ASGI 2.4 and relies on a failing send; a watch that has
nothing to send would then hold its store watcher forever. Racing the stream against `http.disconnect`
closes the generator (running its `finally`) as soon as the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send


class StreamResponse:
    def __init__(self, chunks: AsyncIterator[bytes], media_type: str, status_code: int = 200):
        self.chunks, self.media_type, self.status_code = chunks, media_type, status_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": [(b"content-type", self.media_type.encode()), (b"cache-control", b"no-cache, private")]})
        pump = asyncio.ensure_future(self._pump(send))
        gone = asyncio.ensure_future(self._disconnected(receive))
        try:
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            gone.cancel()
            outcome, _ = await asyncio.gather(pump, gone, return_exceptions=True)
            closer = getattr(self.chunks, "aclose", None)
            if closer is not None:
                await closer()
        # A failed send means the client left; anything else is a bug worth seeing in the server log.
        if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
            raise outcome

    async def _pump(self, send: Send) -> None:
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
