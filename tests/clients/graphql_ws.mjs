// The `graphql-ws` client (sub-protocol graphql-transport-ws) on boardUpdated.
import {
  BOARD_SUBSCRIPTION,
  emit,
  finish,
  graphqlErrors,
  options,
  transportClient,
} from "./common.mjs";

const { url, connectionParams, variables, count } = options();
let received = 0;
const client = transportClient({ url, connectionParams });
client.subscribe(
  { query: BOARD_SUBSCRIPTION, variables },
  {
    next: (result) => {
      if (result.errors) emit({ errors: graphqlErrors(result.errors) });
      if (result.data) {
        emit({ event: result.data.boardUpdated });
        if (++received >= count) finish(0, () => client.dispose());
      }
    },
    error: (error) => {
      // an `error` message (an array of GraphQL errors), or the socket closing (a CloseEvent)
      if (Array.isArray(error)) emit({ error: graphqlErrors(error) });
      else emit({ failed: String(error?.reason ?? error?.message ?? error), code: error?.code ?? null });
      finish(Array.isArray(error) ? 0 : 1, () => client.dispose());
    },
    complete: () => {
      emit({ complete: true });
      finish(0, () => client.dispose());
    },
  },
);
