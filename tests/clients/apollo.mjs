// Apollo Client's GraphQLWsLink (a graphql-ws client underneath, sub-protocol
// graphql-transport-ws), through ApolloClient.subscribe on boardUpdated.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import WebSocket from "ws";
import { BOARD_SUBSCRIPTION, options, transportClient } from "./common.mjs";
import { subscribe } from "./apollo_common.mjs";

// GraphQLWsLink tells a closed socket by the global WebSocket, which node 20 lacks.
globalThis.WebSocket ??= WebSocket;
const { url, connectionParams, variables, count } = options();
const wsClient = transportClient({ url, connectionParams });
const client = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });
subscribe(client, gql(BOARD_SUBSCRIPTION), variables, count, () => wsClient.dispose());
