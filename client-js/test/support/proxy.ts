// A TCP proxy between a client and parley that a test can break on purpose:
// `blackhole()` keeps forwarding what the client sends but drops what the
// server answers (a message is stored, its ack is lost), `cut()` closes every
// connection, `heal()` lets new connections through normally again.

import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { HOST } from "../../../e2e/support/process.ts";

export interface Proxy {
  readonly url: string;
  blackhole(): void;
  heal(): void;
  cut(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const conns = new Set<Socket>();
  let dropDownstream = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, HOST);
    conns.add(client).add(upstream);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (!dropDownstream) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${HOST}:${port}`,
    blackhole: () => (dropDownstream = true),
    heal: () => (dropDownstream = false),
    cut: () => {
      for (const c of conns) c.destroy();
      conns.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}
