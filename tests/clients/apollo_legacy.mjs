// Apollo Client's deprecated WebSocketLink over subscriptions-transport-ws (the legacy
// sub-protocol graphql-ws), through ApolloClient.subscribe on boardUpdated.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { WebSocketLink } from "@apollo/client/link/ws";
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";
import { BOARD_SUBSCRIPTION, emit, finish, options } from "./common.mjs";
import { subscribe } from "./apollo_common.mjs";

const { url, connectionParams, variables, count } = options();
const wsClient = new SubscriptionClient(
  url,
  { connectionParams, lazy: true, reconnect: false },
  WebSocket,
);
wsClient.onConnected(() => emit({ connected: true }));
let closing = false; // by us, once done
wsClient.onDisconnected(() => {
  if (closing) return;
  emit({ closed: null }); // this client does not pass the close code on
  finish(1);
});
const client = new ApolloClient({ link: new WebSocketLink(wsClient), cache: new InMemoryCache() });
subscribe(client, gql(BOARD_SUBSCRIPTION), variables, count, () => {
  closing = true;
  wsClient.close();
});
