// How the board talks to the server, with no library:
//
//   graphql()  queries and mutations: POST /graphql with the token as `Authorization: Bearer`.
//   LiveFeed   one subscription over a websocket speaking graphql-transport-ws. It keeps the
//              cursor of the last event and, after a disconnect, reconnects with backoff and
//              subscribes again with `after: cursor`: the server then replays every missed event,
//              in order, before the live ones (README, "Live boards").

/** A failure the server (or the network) answered; `code` is the GraphQL error code. */
export class ApiError extends Error {
  constructor(message, code, { status = 0, retryAfter = null } = {}) {
    super(message);
    this.code = code; // UNAUTHENTICATED, VERSION_CONFLICT, ... or NETWORK / HTTP
    this.status = status; // the HTTP status, 0 when there was no answer
    this.retryAfter = retryAfter; // seconds, for RATE_LIMITED
  }
}

/**
 * Runs a query or mutation; resolves to `data`, or throws an ApiError for `errors`. The
 * portal page uses it too, with its own endpoint (and no token before signing in).
 */
export async function graphql(token, query, variables = {}, endpoint = "/graphql") {
  let response;
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`the server is unreachable (${error.message})`, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the server answered HTTP ${response.status}`, "HTTP", {
      status: response.status,
    });
  }
  if (body.errors?.length) {
    // Every error carries extensions.code (401 UNAUTHENTICATED, 429 RATE_LIMITED, ...).
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code ?? "ERROR", {
      status: response.status,
      retryAfter: first.extensions?.retryAfter ?? null,
    });
  }
  return body.data;
}

// Close codes after which reconnecting cannot help: the token is bad or lacks READ.
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
// Subscription errors that retrying will not fix (anything else is retried with backoff).
const FATAL_CODES = new Set(["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "INVALID_ID"]);

// Reconnection delays: 0.25 s, 0.5 s, 1 s, 2 s, then every 4 s, each with up to 25 % jitter
// so that the clients of a restarted server do not all come back in the same instant.
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 4000;

/**
 * One subscription that survives disconnects.
 *
 *   const feed = new LiveFeed({ token, query, variables, field: "boardUpdated", ...callbacks });
 *   feed.start(cursor);  ...  feed.stop();
 *
 * Start it from the cursor that came with the state you show (for a board, the pipeline's
 * `eventCursor`, read in the same query as its cards): the server first replays every event
 * after it, so nothing that happened since the read is missed.
 *
 * The subscription document must select `cursor` on `field`, and declare `$after: String`.
 * Callbacks:
 *   onEvent(event)          each event (data[field]), in order, once
 *   onExpired()             too much was missed to replay (CURSOR_EXPIRED): load the state
 *                           again and call resumeFrom(its cursor)
 *   onState(state, detail)  "connecting" | "live" | "reconnecting" | "offline" | "stopped"
 *   onFatal(error)          an ApiError that retrying cannot fix (the feed has stopped)
 */
export class LiveFeed {
  constructor({ token, query, variables, field, onEvent, onExpired, onState, onFatal }) {
    Object.assign(this, { token, query, variables, field });
    this.onEvent = onEvent;
    this.onExpired = onExpired ?? (() => this.resumeFrom(null));
    this.onState = onState ?? (() => {});
    this.onFatal = onFatal ?? (() => {});
    this.cursor = null; // the last event's cursor: where to resume
    this.socket = null;
    this.acknowledged = false; // the socket's connection_ack came: subscribes may be sent
    this.waiting = false; // for resumeFrom, after CURSOR_EXPIRED
    this.subscriptionId = null; // messages for any other id are stale and ignored
    this.nextId = 1;
    this.attempt = 0; // failed connections in a row, for the backoff
    this.timer = null;
    this.stopped = true;
    // The browser says the network is back: no need to wait for the backoff.
    this.reconnectNow = () => {
      if (!this.socket) this.retry(0);
    };
  }

  start(cursor = null) {
    this.cursor = cursor;
    this.stopped = false;
    window.addEventListener("online", this.reconnectNow);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.reconnectNow);
    clearTimeout(this.timer);
    this.close();
    this.onState("stopped");
  }

  /** Subscribe again from `cursor` (null: only what happens from now on). */
  resumeFrom(cursor) {
    this.cursor = cursor;
    this.waiting = false;
    if (this.acknowledged) this.subscribe(); // else the next connection_ack subscribes
  }

  connect() {
    this.close();
    this.onState(this.attempt === 0 && !this.cursor ? "connecting" : "reconnecting");
    const url = new URL("/graphql", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url, "graphql-transport-ws");
    this.socket = socket;
    // The token goes in connection_init, not the URL (URLs end up in logs).
    socket.onopen = () =>
      this.send({ type: "connection_init", payload: { Authorization: `Bearer ${this.token}` } });
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = (closed) => {
      if (socket !== this.socket || this.stopped) return; // replaced or stopped on purpose
      this.socket = null;
      if (closed.code === CLOSE_UNAUTHORIZED || closed.code === CLOSE_FORBIDDEN) {
        const code = closed.code === CLOSE_UNAUTHORIZED ? "UNAUTHENTICATED" : "FORBIDDEN";
        this.fail(new ApiError(closed.reason || "the token was refused", code));
        return;
      }
      // Anything else (a restart, a lost network, 4413 for a reader that fell behind, 4429)
      // is retried; the cursor makes the new subscription pick up where this one stopped.
      this.retry();
    };
  }

  receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.attempt = 0;
        this.acknowledged = true;
        if (!this.waiting) this.subscribe();
        break;
      case "ping": // the server checks that we are alive
        this.send({ type: "pong" });
        break;
      case "next":
        if (message.id !== this.subscriptionId) return;
        if (message.payload.errors?.length) {
          this.subscriptionFailed(message.payload.errors);
          return;
        }
        this.cursor = message.payload.data[this.field].cursor;
        this.onEvent(message.payload.data[this.field]);
        break;
      case "error": // the subscription was refused before it started
        if (message.id === this.subscriptionId) this.subscriptionFailed(message.payload);
        break;
      case "complete": // the server ended it (it should not): start again from the cursor
        if (message.id === this.subscriptionId) {
          this.close();
          this.retry();
        }
        break;
    }
  }

  subscribe() {
    if (this.subscriptionId) this.send({ id: this.subscriptionId, type: "complete" });
    this.subscriptionId = `${this.field}-${this.nextId++}`;
    this.send({
      id: this.subscriptionId,
      type: "subscribe",
      payload: { query: this.query, variables: { ...this.variables, after: this.cursor } },
    });
    // graphql-transport-ws has no "subscribed" answer: the acknowledged socket is live.
    this.onState("live");
  }

  subscriptionFailed(errors) {
    const [first] = errors;
    const code = first.extensions?.code ?? "ERROR";
    this.subscriptionId = null; // its "complete" is not ours to act on
    if (code === "CURSOR_EXPIRED" || (code === "INVALID_INPUT" && this.cursor !== null)) {
      // Too much was missed to replay (or the cursor is not one of this feed's, e.g. the
      // database was replaced): the page loads the state again and resumes from its cursor.
      this.cursor = null;
      this.waiting = true;
      this.onExpired();
    } else if (FATAL_CODES.has(code)) {
      this.fail(new ApiError(first.message, code));
    } else {
      // RATE_LIMITED says when to come back; anything else: back off and try again.
      const seconds = first.extensions?.retryAfter;
      this.close();
      this.retry(seconds ? seconds * 1000 : undefined);
    }
  }

  /** Reconnect after `delay` ms (by default the next step of the backoff). */
  retry(delay) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (delay === undefined) {
      const base = Math.min(FIRST_DELAY_MS * 2 ** this.attempt, MAX_DELAY_MS);
      delay = base * (1 + Math.random() / 4);
    }
    this.attempt += 1;
    if (!navigator.onLine) {
      this.onState("offline", "waiting for the network"); // the "online" event calls us back
      return;
    }
    this.onState("reconnecting", `in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  fail(error) {
    this.stop();
    this.onFatal(error);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.acknowledged = false;
    this.subscriptionId = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "bye");
  }
}
