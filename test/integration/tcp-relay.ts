// A TCP relay from a local port to a server, for tests that need a broker to appear late or go away
// without touching the shared server: opening the relay is "the broker is up", closing it (and every
// connection through it) is "the broker is gone".
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";

export interface Relay {
  close(): Promise<void>;
}

/** Relays 127.0.0.1:`port` to `host`:`targetPort` until closed. Example: `await relay(port, "127.0.0.1", 5672)`. */
export async function relay(port: number, host: string, targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return {
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}
