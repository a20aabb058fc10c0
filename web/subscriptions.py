"""GraphQL over websockets at /graphql: `graphql-transport-ws` and the legacy `graphql-ws`,
on the bare ASGI websocket.

One `Connection` (a few slots) per socket, served by the task the server runs the socket in.
A subscription costs no task once it is live: it is a member of its feed's group (web.live),
which renders each event once per distinct document and writes the same text to every
socket that asked it. Starting one (checks, joining the feed, replaying from a cursor) and
a query or mutation sent over the socket run in a task of their own until they are done.

Kept from the protocols and from our limits (docs/api.md): close codes 4400 (bad message),
4401 (no valid token, or a subscribe before the ack), 4403 (no READ), 4406 (no sub-protocol
we speak), 4408 (no connection_init within CONNECTION_INIT_TIMEOUT), 4409 (an operation id in
use), 4413 (a socket that stops reading), 4429 (a second connection_init, a token or firm over
its sockets, more than MESSAGES_PER_SOCKET messages per MESSAGE_WINDOW); each operation goes
through the schema's checks (parse, validation, the guard's permissions, cost and rate limits)
before anything runs; MAX_SUBSCRIPTIONS_PER_SOCKET; subscription start rates (web.sockets).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.error import located_error
from graphql.execution import Executor, get_argument_values
from graphql.execution.collect_fields import collect_fields
from graphql.pyutils import Path
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import _coerce_pre_execution_error
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from api import schema
from models.firm import Permission
from realtime.hub import FeedKey, Hub, read_log
from resolvers.live import SOURCES, check_resume, open_source
from schema.context import SLOW_CONSUMER_CLOSE_CODE, Context
from schema.events import BoardEventType
from schema.extensions import present_error
from schema.loaders import Loaders
from schema.shared_events import SharedEventExecutor
from web.graphql_http import encode_json
from web.live import LiveFeeds, LiveSub, Share, Socket, error_payload, render, render_shared
from web.protocol import LeanWebSocketProtocol
from web.sockets import OpenSockets
from workflow.errors import ErrorCode
from workflow.firms import authenticate
from workflow.scope import Scope as Caller

log = logging.getLogger("workflow.websocket")
TRANSPORT_WS, LEGACY_WS = "graphql-transport-ws", "graphql-ws"
UNAUTHORIZED, FORBIDDEN, BAD_MESSAGE, TOO_MANY = 4401, 4403, 4400, 4429
MESSAGES_PER_SOCKET, MESSAGE_WINDOW = 200, 10.0  # what one socket may send (then 4429)
MESSAGE_REFILL = MESSAGES_PER_SOCKET / MESSAGE_WINDOW
# Seconds before a socket over a limit is closed: a client that reconnects at once, in a loop,
# then costs a handshake a second instead of taking the event loop from everyone else.
REFUSAL_DELAY = 1.0
CONNECTION_INIT_TIMEOUT = 5.0
MAX_SUBSCRIPTIONS_PER_SOCKET = 100
ALLOWED = {
    TRANSPORT_WS: (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION),
    LEGACY_WS: (OperationType.SUBSCRIPTION,),
}
_background: set[asyncio.Task[Any]] = set()


def bearer(params: Mapping[str, Any] | None) -> str:
    """The token of a connection_init payload; the key is matched case-insensitively."""
    for key, value in (params or {}).items():
        if key.lower() == "authorization" and isinstance(value, str):
            kind, _, token = value.partition(" ")
            return token.strip() if kind.lower() == "bearer" else ""
    return ""


def _malformed(message: object) -> str | None:
    """Why a websocket message cannot be handled, or None."""
    if not isinstance(message, dict):
        return "each message must be a JSON object"
    if message.get("type") in ("subscribe", "start"):
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "subscribe needs a payload object with a query string"
        if not isinstance(payload.get("variables"), dict | None):
            return "variables must be an object"
    return None


def _rate_limited(wait: float) -> GraphQLError:
    return GraphQLError(
        f"too many subscription starts: retry in {math.ceil(wait)} s",
        extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": math.ceil(wait)},
    )


def _in_background(work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def _json(value: object) -> str:
    return encode_json(value).decode()


async def _resume(coroutine: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Run a coroutine that was stepped once by hand and is waiting for `waiting` (the
    future it yielded) to its end, as a task would have."""
    while True:
        if waiting is not None:
            # as a task does with what its coroutine yields (else awaiting it again fails)
            waiting._asyncio_future_blocking = False
            try:
                await waiting
            except asyncio.CancelledError:
                if not waiting.cancelled():  # we were cancelled, not the future
                    coroutine.close()
                    raise
            except Exception:  # the coroutine gets it from the future itself
                pass
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


class Connection(Socket):
    """One websocket and its operations."""

    __slots__ = (
        "acked",
        "asgi",
        "at",
        "budget",
        "closed",
        "init_received",
        "init_timer",
        "legacy",
        "ops",
        "outbox",
        "scope",
        "send_asgi",
        "timed_out",
        "wire",
        "writer",
    )

    def __init__(self, asgi: Scope, receive: Receive, send: Send, legacy: bool) -> None:
        self.asgi = (asgi, receive)
        self.send_asgi = send
        self.legacy = legacy
        self.scope: Caller | None = None
        self.acked = self.init_received = self.timed_out = self.closed = False
        self.ops: dict[str, LiveSub | asyncio.Task[None]] = {}
        self.budget, self.at = float(MESSAGES_PER_SOCKET), time.monotonic()
        self.outbox: deque[str] | None = None  # while a write waits for the client
        self.writer: asyncio.Task[None] | None = None
        # the server's protocol, when it is ours: events are written to it directly
        protocol = getattr(send, "__self__", None)
        self.wire = protocol if isinstance(protocol, LeanWebSocketProtocol) else None
        self.init_timer: asyncio.TimerHandle | None = None
        if not legacy:
            self.init_timer = asyncio.get_running_loop().call_later(
                CONNECTION_INIT_TIMEOUT, self._init_timeout
            )

    # ------------------------------------------------------------------ the app's state

    @property
    def state(self) -> Any:
        return self.asgi[0]["app"].state

    @property
    def sockets(self) -> OpenSockets:
        sockets: OpenSockets = self.state.sockets
        return sockets

    @property
    def hub(self) -> Hub:
        hub: Hub = self.state.hub
        return hub

    @property
    def queue_size(self) -> int:  # type: ignore[override]
        return self.live.queue_size

    @property
    def live(self) -> LiveFeeds:
        live: LiveFeeds = self.state.live
        return live

    def context(self) -> Context:
        """A context for one operation (the guard and the resolvers read the request)."""
        asgi, receive = self.asgi
        assert self.scope is not None
        context = Context(
            request=WebSocket(asgi, receive, self.send_asgi),
            scope=self.scope,
            request_id=uuid.uuid4().hex[:16],
        )
        return context

    # ------------------------------------------------------------------ writing

    def push(self, text: str) -> None:
        """Write a text frame in order, without waiting: a socket that has more than
        SUBSCRIPTION_QUEUE_SIZE frames waiting for the client is closed with 4413."""
        if self.closed:
            return
        if self.outbox is not None:
            if len(self.outbox) >= self.queue_size:
                self.overflow()
            else:
                self.outbox.append(text)
            return
        sending = self.send_asgi({"type": "websocket.send", "text": text})
        if not isinstance(sending, Coroutine):  # a server whose send is not a coroutine
            self.outbox = deque()
            self.writer = asyncio.create_task(self._write(sending))
            return
        try:  # almost always done at once: the transport takes it
            waiting = sending.send(None)
        except StopIteration:
            return
        except Exception:  # gone: its receive loop ends it
            return
        self.outbox = deque()
        self.writer = asyncio.create_task(self._write(_resume(sending, waiting)))

    async def _write(self, first: Awaitable[None]) -> None:
        try:
            await first
            while self.outbox:
                await self.send_asgi({"type": "websocket.send", "text": self.outbox.popleft()})
        except Exception:  # gone: its receive loop ends it
            pass
        finally:
            self.outbox, self.writer = None, None

    def frame(self, op_id: str, payload: str) -> str:
        return f"{self._head(op_id)}{payload}}}"

    def _head(self, op_id: str) -> str:
        if self.legacy:
            return f'{{"type":"data","id":{_json(op_id)},"payload":'
        return f'{{"id":{_json(op_id)},"type":"next","payload":'

    def frame_head(self, op_id: str) -> bytes:
        return self._head(op_id).encode()

    def push_event(self, head: bytes, payload: bytes) -> None:
        """An event's frame: written by uvicorn's protocol at once when it can (the same bytes
        as `push`, without an ASGI message, a coroutine and websockets' framing per socket)."""
        if self.closed:
            return
        data = b"".join((head, payload, b"}"))
        if self.outbox is None and self.wire is not None and self.wire.write_text(data):
            return
        self.push(data.decode())

    def message(self, message: Mapping[str, object]) -> None:
        self.push(_json(message))

    def overflow(self) -> None:
        if not self.closed:
            _in_background(
                self.close(SLOW_CONSUMER_CLOSE_CODE, "too slow: resume from your last cursor")
            )

    async def close(self, code: int, reason: str) -> None:
        """Close with a code (once); its operations end at once."""
        if self.closed:
            return
        self.end()
        if self.outbox:
            self.outbox.clear()
        try:
            await self.send_asgi({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # gone already
            pass

    def end(self) -> None:
        """Stop every operation and no longer count (idempotent)."""
        self.closed = True
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        for op in self.ops.values():
            if isinstance(op, LiveSub):
                op.leave(self.hub)
            else:
                op.cancel()
        self.ops.clear()
        self.sockets.remove(self)

    def _init_timeout(self) -> None:
        self.init_timer = None
        if not self.init_received:
            self.timed_out = True
            _in_background(self.close(4408, "Connection initialisation timeout"))

    # ------------------------------------------------------------------ reading

    async def serve(self, receive: Receive) -> None:
        while not self.closed:
            # not held in a local while the socket idles (a subscribe holds its document)
            if not await self.receive(await receive()):
                return
            # Messages already received come without a pause: without this, a socket's
            # backlog would be handled in one go while every other socket waits.
            await asyncio.sleep(0)

    async def receive(self, event: Message) -> bool:
        """Handle one frame; False once the socket is closed (or gone)."""
        if event["type"] == "websocket.disconnect":
            return False
        now = time.monotonic()
        self.budget = min(MESSAGES_PER_SOCKET, self.budget + (now - self.at) * MESSAGE_REFILL)
        self.at = now
        if self.budget < 1:
            await asyncio.sleep(REFUSAL_DELAY)
            await self.close(
                TOO_MANY, f"over {MESSAGES_PER_SOCKET} messages in {MESSAGE_WINDOW:.0f} s"
            )
            return False
        self.budget -= 1
        text = event.get("text")
        if text is None:
            if self.legacy:
                await self.close(1002, "WebSocket message type must be text")
            else:
                await self.close(BAD_MESSAGE, "WebSocket message type must be text")
            return False
        try:
            message = json.loads(text)
        except ValueError:
            if self.legacy:
                return True  # ignored, as the legacy protocol does
            await self.close(BAD_MESSAGE, "WebSocket message must be valid JSON")
            return False
        if problem := _malformed(message):
            await self.close(BAD_MESSAGE, problem)
            return False
        try:
            if self.legacy:
                await self.legacy_message(message)
            else:
                await self.transport_message(message)
        except KeyError:
            await self.close(BAD_MESSAGE, "Failed to parse message")
        return not self.closed

    async def transport_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self.connection_init(message.get("payload", {}))
        elif kind == "ping":
            self.message({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self.subscribe(message["id"], message["payload"])
        elif kind == "complete":
            self.stop(message["id"])
        else:
            await self.close(BAD_MESSAGE, f"Unknown message type: {kind}")

    async def legacy_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self.connection_init(message.get("payload"))
        elif kind == "connection_terminate":
            await self.close(1000, "")
        elif kind == "start":
            await self.subscribe(message["id"], message["payload"])
        elif kind == "stop":
            self.stop(message["id"])

    # ------------------------------------------------------------------ connection_init

    async def connection_init(self, payload: object) -> None:
        if self.timed_out:
            return
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        if self.legacy:
            if payload is not None and not isinstance(payload, dict):
                self.message({"type": "connection_error"})
                await self.close(1000, "")
                return
            if self.acked:  # already in: acknowledged again, counted once
                self.message({"type": "connection_ack"})
                return
        else:
            if not isinstance(payload, dict):
                await self.close(BAD_MESSAGE, "Invalid connection init payload")
                return
            if self.init_received:
                await self.close(TOO_MANY, "Too many initialisation requests")
                return
        self.init_received = True
        params = payload if isinstance(payload, dict) else None
        caller = await authenticate(bearer(params))
        if caller is None or not caller.can(Permission.READ):  # every subscription reads
            code, reason = (
                (UNAUTHORIZED, "Unauthorized") if caller is None else (FORBIDDEN, "Forbidden")
            )
            why = (
                "a valid bearer token is required"
                if caller is None
                else "the READ scope is required"
            )
            await self.refuse(code, reason, {"message": why})
            return
        if refusal := self.sockets.admit(self, caller):
            await asyncio.sleep(REFUSAL_DELAY)
            error = {"message": refusal, "extensions": {"code": ErrorCode.RATE_LIMITED.value}}
            await self.refuse(TOO_MANY, refusal, error)
            return
        self.scope = caller
        self.acked = True
        self.message(
            {"type": "connection_ack"}
            if self.legacy
            else {"type": "connection_ack", "payload": None}
        )

    async def refuse(self, code: int, reason: str, error: dict[str, Any]) -> None:
        if self.legacy:
            self.message({"type": "connection_error", "payload": error})
        await self.close(code, reason)

    # ------------------------------------------------------------------ operations

    def error(self, op_id: str, errors: list[GraphQLError]) -> None:
        """An operation refused before it ran (the legacy protocol tells the first error)."""
        payload: object = (
            errors[0].formatted if self.legacy else [error.formatted for error in errors]
        )
        self.message(
            {"id": op_id, "type": "error", "payload": payload}
            if not self.legacy
            else {"type": "error", "id": op_id, "payload": payload}
        )

    def complete(self, op_id: str) -> None:
        self.message(
            {"type": "complete", "id": op_id} if self.legacy else {"id": op_id, "type": "complete"}
        )

    async def subscribe(self, op_id: str, payload: dict[str, Any]) -> None:
        if not isinstance(op_id, str):
            raise KeyError("id")
        room = len(self.ops) < MAX_SUBSCRIPTIONS_PER_SOCKET
        if self.legacy and op_id in self.ops:
            self.stop(op_id)  # the legacy protocol restarts an id in use
            room = len(self.ops) < MAX_SUBSCRIPTIONS_PER_SOCKET
        # Counted only when it would start (acknowledged, a new id, room on this socket).
        if self.acked and op_id not in self.ops and room:
            assert self.scope is not None
            if wait := self.sockets.starts.take(self.scope):
                self.error(op_id, [_rate_limited(wait)])
                return
        if not self.acked:
            await self.close(UNAUTHORIZED, "Unauthorized")
            return
        if op_id in self.ops:
            await self.close(4409, f"Subscriber for {op_id} already exists")
            return
        if not room:
            self.error(op_id, [GraphQLError("Subscription limit reached")])
            return
        task = asyncio.create_task(self.run(op_id, payload))
        self.ops[op_id] = task

    def stop(self, op_id: str) -> None:
        op = self.ops.pop(op_id, None)
        if op is None:
            return
        if isinstance(op, LiveSub):
            op.leave(self.hub)
        else:
            op.cancel()
        if self.legacy:
            self.complete(op_id)

    def finish(self, op_id: str) -> bool:
        """The operation is over: forget its id; False if it was stopped meanwhile."""
        if self.ops.get(op_id) is asyncio.current_task():
            del self.ops[op_id]
            return True
        return False

    async def run(self, op_id: str, payload: dict[str, Any]) -> None:
        try:
            await self._run(op_id, payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("websocket operation %s failed", op_id)
            if self.finish(op_id):
                self.complete(op_id)

    async def _run(self, op_id: str, payload: dict[str, Any]) -> None:
        """The schema's checks, then a query or mutation to its end, or a subscription until
        it is live."""
        context = self.context()
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        execution = schema._create_execution_context(  # noqa: SLF001
            query=payload["query"],
            allowed_operation_types=ALLOWED[LEGACY_WS if self.legacy else TRANSPORT_WS],
            variable_values=variables,
            context_value=context,
            root_value=None,
            operation_name=operation_name if isinstance(operation_name, str) else None,
        )
        extensions = schema.get_extensions()
        for extension in extensions:
            extension.execution_context = execution
        runner = schema.create_extensions_runner(execution, extensions)
        async with runner.operation():
            try:
                refused = await schema._prepare_operation_async(execution, runner)  # noqa: SLF001
            except CannotGetOperationTypeError as error:
                if self.finish(op_id):
                    reason = error.as_http_error_reason()
                    if self.legacy:
                        self.error(op_id, [GraphQLError(reason)])
                    else:
                        await self.close(BAD_MESSAGE, reason)
                return
            except (MissingQueryError, InvalidOperationTypeError) as error:
                refused = PreExecutionError(data=None, errors=[_coerce_pre_execution_error(error)])
            if refused is not None:
                result = await schema._handle_execution_result(execution, refused, runner)  # noqa: SLF001
                errors = list(result.errors or ())
                if not self.finish(op_id):
                    return
                if isinstance(errors[0], GraphQLSyntaxError) and not self.legacy:
                    await self.close(BAD_MESSAGE, errors[0].message)
                else:
                    self.error(op_id, errors)
                return
            assert execution.graphql_document is not None
            if execution.operation_type is not OperationType.SUBSCRIPTION:
                middleware = schema._get_middleware_manager(extensions)  # noqa: SLF001
                results = schema._stream_non_subscription(execution, runner, middleware)  # noqa: SLF001
                async for answer in results:
                    assert isinstance(answer, ExecutionResult)
                    message: dict[str, Any] = {"data": answer.data}
                    if answer.errors:
                        message["errors"] = [error.formatted for error in answer.errors]
                    if answer.extensions:
                        message["extensions"] = answer.extensions
                    if op_id in self.ops:
                        self.push(self.frame(op_id, _json(message)))
                if self.finish(op_id):
                    self.complete(op_id)
                return
            async with runner.executing():  # the request's operation name, for the log
                built = SharedEventExecutor.build(
                    schema._schema,  # noqa: SLF001
                    execution.graphql_document,
                    context_value=context,
                    raw_variable_values=variables,
                    operation_name=execution.operation_name,
                )
        if isinstance(built, list):
            errors = [present_error(error, context.request_id) for error in built]
            if self.finish(op_id):
                self.error(op_id, errors)
            return
        await self.start(op_id, built, context)

    async def start(self, op_id: str, executor: Executor[Any], context: Context) -> None:
        """Open the subscription's feed, catch up from the cursor, then hand it to its group."""
        assert isinstance(executor, SharedEventExecutor)
        try:
            field, args = _root_field(executor)
        except GraphQLError as error:
            if self.finish(op_id):
                self.error(op_id, [present_error(error, context.request_id)])
            return
        try:
            key, start = await open_source(context, field, args)
        except Exception as error:
            self._failed(op_id, error, context)
            return
        sub = LiveSub(self, op_id)
        sub.feed, sub.last = await self.hub.attach(key, sub)
        share_key = executor._shared_key()  # noqa: SLF001
        self.live.group(key).add(sub, share_key, lambda: Share(share_key, executor, context))
        if not self.finish(op_id):  # stopped while joining
            sub.leave(self.hub)
            return
        self.ops[op_id] = sub
        try:
            await self._catch_up(sub, key, start)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self.ops.get(op_id) is sub:
                del self.ops[op_id]
                sub.leave(self.hub)
                self._failed(op_id, error, context, registered=False)

    async def _catch_up(self, sub: LiveSub, key: FeedKey, start: int | None) -> None:
        position = sub.last
        await check_resume(key, start, position)
        last = position if start is None else start
        sub.last = max(position, last)  # a cursor ahead of this process's feed: after it
        share = sub.share
        assert share is not None
        scope = share.context.scope
        while last < position:  # replay what the client missed, from the log
            batch = await read_log(key, last)
            if not batch:
                break
            for delivery in batch:
                event = BoardEventType.from_delivery(delivery, key)
                payload = await render(share, event, Loaders(scope))  # fresh data
                if self.ops.get(sub.op_id) is not sub:
                    return  # stopped, or the socket went
                self.push(self.frame(sub.op_id, payload))
                last = delivery.position(key.kind)
                sub.last = max(sub.last, last)  # what the feed hands over after it counts
        pending = sub.pending
        assert pending is not None
        while pending:  # what the feed handed over meanwhile, then live
            delivery = pending.popleft()
            if delivery.position(key.kind) <= sub.last:
                continue
            payload = await render_shared(share, delivery, key)
            if self.ops.get(sub.op_id) is not sub:
                return
            sub.send(delivery, payload.encode())
        sub.pending = None

    def _failed(
        self, op_id: str, error: Exception, context: Context, registered: bool = True
    ) -> None:
        """A subscription that failed to start: its error as its one event, then complete."""
        if registered and not self.finish(op_id):
            return
        presented = present_error(
            GraphQLError(str(error), original_error=error), context.request_id
        )
        self.push(self.frame(op_id, error_payload([presented])))
        self.complete(op_id)


def _root_field(executor: SharedEventExecutor) -> tuple[str, dict[str, Any]]:
    """The subscription's root field and its arguments (validation allows one)."""
    root_type = executor.schema.subscription_type
    assert root_type is not None
    grouped = collect_fields(
        executor.schema,
        executor.fragments,
        executor.variable_values,
        root_type,
        executor.operation,
        executor.hide_suggestions,
    ).grouped_field_set
    response_name, details = next(iter(grouped.items()))
    field = details[0].node.name.value
    nodes = [detail.node for detail in details]
    field_def = executor.schema.get_field(root_type, field)
    path = Path(None, response_name, root_type.name)
    if field_def is None or field not in SOURCES:
        raise GraphQLError(f"The subscription field '{field}' is not defined.", nodes)
    try:
        args = get_argument_values(
            field_def,
            nodes[0],
            executor.variable_values,
            details[0].fragment_variable_values,
            executor.hide_suggestions,
        )
    except Exception as error:
        raise located_error(error, nodes, path.as_list()) from error
    return field, args


class GraphQLWebSockets:
    """The ASGI app of websockets at /graphql."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve(scope, receive, send)


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    offered = scope.get("subprotocols") or []
    protocol = next((p for p in offered if p in ALLOWED), None)
    await send({"type": "websocket.accept", "subprotocol": protocol})
    if protocol is None:
        await send(
            {"type": "websocket.close", "code": 4406, "reason": "Subprotocol not acceptable"}
        )
        return
    connection = Connection(scope, receive, send, legacy=protocol == LEGACY_WS)
    try:
        await connection.serve(receive)
    except OSError:
        pass
    finally:
        connection.end()
