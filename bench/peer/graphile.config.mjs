// PostGraphile 5 as the bench's peer (bench/peer.py): the Amber preset over the views of
// schema `peer` (schema.sql), no GraphiQL, no watch. DATABASE_URL is the bench's database.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["peer"],
      poolMaxConnections: 10,
    }),
  ],
  grafserv: { graphiql: false, watch: false },
  grafast: {
    // The tenant, as a JWT claim would name it: the bearer is the firm's id.
    context(requestContext) {
      const header = requestContext.node?.req?.headers?.authorization ?? "";
      return { pgSettings: { "bench.firm_id": header.replace(/^Bearer /, "") } };
    },
  },
};
