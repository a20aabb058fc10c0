// Serves the peer on 127.0.0.1:$PORT and prints "listening" once it answers (bench/peer.py).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
const serv = postgraphile(preset).createServ(grafserv);
await serv.addTo(server);
await serv.ready();
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
