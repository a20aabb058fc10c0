"""The GraphQL layer's parts: types, inputs, payloads, enums, connections, DataLoaders and the
extensions that guard every operation. The Schema composed from them and the resolvers is
`api.schema` (this package imports no resolver)."""
