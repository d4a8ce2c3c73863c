// Subscribes with the `graphql-ws` client (the graphql-transport-ws protocol, as Apollo
// Client's GraphQLWsLink does) and prints the first result as one JSON line, or the error.
//   node subscribe.mjs <ws url> <host header> <api key> <document>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, host, key, query] = process.argv.slice(2);

class HostedWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, { headers: { Host: host } });
  }
}

const client = createClient({
  url,
  webSocketImpl: HostedWebSocket,
  connectionParams: { Authorization: `Bearer ${key}` },
  retryAttempts: 0,
});

client.subscribe({ query }, {
  next: (result) => {
    console.log(JSON.stringify(result));
    client.dispose();
    process.exit(0);
  },
  error: (error) => {
    console.log(JSON.stringify({ clientError: error instanceof Error ? error.message : error }));
    process.exit(1);
  },
  complete: () => process.exit(0),
});
