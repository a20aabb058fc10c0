// ApolloClient.subscribe, as an application calls it, with its results as output lines.
import { emit, finish, graphqlErrors } from "./common.mjs";

// Errors as Apollo hands them over: CombinedGraphQLErrors (its `errors`: a result with
// errors, or graphql-ws's `error` message); an UnconventionalError wrapping a GraphQL error
// (subscriptions-transport-ws hands the legacy `error` message's payload over as a plain
// object); else any Error, the socket's failures among them.
function apolloErrors(error) {
  if (Array.isArray(error?.errors)) return { errors: graphqlErrors(error.errors) };
  if (typeof error?.cause?.message === "string") return { error: graphqlErrors([error.cause]) };
  return { failed: String(error?.message ?? error) };
}

export function subscribe(client, query, variables, count, cleanup) {
  let received = 0;
  client.subscribe({ query, variables }).subscribe({
    next: (result) => {
      if (result.error) {
        const line = apolloErrors(result.error);
        emit(line);
        if (line.failed) finish(1, cleanup);
      }
      if (result.data) {
        emit({ event: result.data.boardUpdated });
        if (++received >= count) finish(0, () => { client.stop(); return cleanup(); });
      }
    },
    error: (error) => {
      const line = apolloErrors(error);
      emit(line);
      finish(line.failed ? 1 : 0, cleanup);
    },
    complete: () => {
      emit({ complete: true });
      finish(0, cleanup);
    },
  });
}
