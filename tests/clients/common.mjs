// What the client scripts share: their arguments, the subscription they send, the
// graphql-transport-ws client, and their output (one JSON object per line on stdout, read by tests/test_ws_js_clients.py).
import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

export const BOARD_SUBSCRIPTION = `subscription($p: ID!, $after: String) {
  boardUpdated(pipelineId: $p, after: $after) {
    cursor type stageId fromStageId pipelineId occurredAt job { id title version }
  } }`;

// --url, --token (or WS_URL, WS_TOKEN), --pipeline (left out: no $p at all, a request the
// server refuses before it runs), --after (a cursor to resume from; give it as --after=CURSOR,
// as a cursor may start with "-"), --count (events, then exit).
export function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env.WS_URL },
      token: { type: "string", default: process.env.WS_TOKEN },
      pipeline: { type: "string" },
      after: { type: "string" },
      count: { type: "string", default: "1" },
    },
  });
  if (!values.url || !values.token) {
    console.error("usage: node <client>.mjs --url ws://... --token wf_... [--pipeline=ID] [--after=CURSOR] [--count=N]");
    process.exit(64);
  }
  const variables = {};
  if (values.pipeline !== undefined) variables.p = values.pipeline;
  if (values.after !== undefined) variables.after = values.after;
  return {
    url: values.url,
    // the shape docs/api.md asks for in connection_init
    connectionParams: { Authorization: `Bearer ${values.token}` },
    variables,
    count: Number(values.count),
  };
}

// A graphql-ws client (sub-protocol graphql-transport-ws) that connects on its first
// subscription, never retries, and reports its connection and its close.
export function transportClient({ url, connectionParams }) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: true,
    retryAttempts: 0,
    on: {
      connected: () => emit({ connected: true }),
      closed: (event) => emit({ closed: event?.code ?? null }),
    },
  });
}

export function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

// GraphQL errors as the client handed them over (an array, or an Error carrying them).
export function graphqlErrors(errors) {
  return errors.map(({ message, path, extensions }) => ({ message, path, extensions }));
}

// Exit once stdout is flushed (process.exit could cut the last lines when piped); the first
// call decides the exit code (closing the client reports its own close afterwards).
let finishing = false;
export function finish(code, cleanup) {
  if (finishing) return;
  finishing = true;
  Promise.resolve(cleanup?.()).finally(() => process.stdout.write("", () => process.exit(code)));
}
