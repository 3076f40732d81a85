"""Stream wrappers: keep an LLM span open until its streamed response is read, then record usage.

A streaming call returns before the model has finished; the usage only arrives in the last events.
The shims hand the SDK's stream back wrapped in one of these proxies, which shows every event to
a :class:`StreamReader` and ends the span when the stream is exhausted, fails, is closed, or —
as a last resort — is garbage-collected. Everything else is delegated to the SDK's stream.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._guard import swallow
from ._llm_call import LLMCall

__all__ = ["AsyncObservedStream", "ObservedStream", "StreamReader"]


class StreamReader(Protocol):
    """Reads the model, response id and usage out of one SDK's stream events."""

    def observe(self, event: object) -> None: ...

    def finish(self, call: LLMCall) -> None:
        """Record what was read on ``call`` (not end it)."""
        ...


class _Observed:
    __slots__ = ("_stream", "_call", "_reader", "_owned", "_done")

    def __init__(self, stream: Any, call: LLMCall, reader: StreamReader, *, owned: bool = True) -> None:
        self._stream = stream
        self._call = call
        self._reader = reader
        self._owned = owned  # False: the call is an enclosing llm_call()'s, which records errors and ends it
        self._done = False

    def _observe(self, event: Any) -> Any:
        with swallow("reading a stream event"):
            self._reader.observe(event)
        return event

    def _finish(self, error: BaseException | None = None) -> None:
        """End the stream's span once; ``error`` (not the end of iteration) marks an owned call failed."""
        if self._done:
            return
        self._done = True
        with swallow("recording a streamed response"):
            self._reader.finish(self._call)
        if not self._owned:
            return
        if error is not None and not isinstance(error, (StopIteration, StopAsyncIteration)):
            self._call.record_error(error)
        self._call.end()

    def __getattr__(self, name: str) -> Any:
        if name in _Observed.__slots__:  # not set yet (half-built proxy): no recursion
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<tierscope observed {self._stream!r}>"

    def __del__(self) -> None:
        # Dropped unread and unclosed: end our span now rather than never. (Not an adopted call's:
        # its llm_call() block ended it already.) Never let a finalizer raise, even at shutdown.
        try:
            if not getattr(self, "_done", True) and getattr(self, "_owned", False):
                self._finish()
        except Exception:
            pass


class ObservedStream(_Observed):
    """A sync SDK stream (``openai.Stream``, ``anthropic.Stream``) that ends its span when read."""

    __slots__ = ()

    def __iter__(self) -> ObservedStream:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self._stream)
        except BaseException as error:  # the end of the stream included: the span ends either way
            self._finish(error)
            raise
        return self._observe(event)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._finish()

    def __enter__(self) -> ObservedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # An exception from the caller's loop body is not the model's failure: just close.
        self.close()


class AsyncObservedStream(_Observed):
    """An async SDK stream (``openai.AsyncStream``, ``anthropic.AsyncStream``) that ends its span when read."""

    __slots__ = ()

    def __aiter__(self) -> AsyncObservedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self._stream.__anext__()
        except BaseException as error:  # the end of the stream included: the span ends either way
            self._finish(error)
            raise
        return self._observe(event)

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._finish()

    async def __aenter__(self) -> AsyncObservedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
