import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on 127.0.0.1 that a test can cut and restore: a stand-in
 * for a database server that goes away (a crash, a network partition, a
 * failover) and comes back on the same address.
 */
export interface TcpProxy {
  readonly port: number;
  /** Closes every connection and stops listening: new connections are refused. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /**
   * Keeps every connection open and accepts new ones, but forwards no byte
   * either way: a partition that drops packets without a reset, or a frozen
   * host. A client sees no error, only silence, and a FIN it sends is ignored too.
   */
  freeze(): void;
  /** Forwards again (what arrived while frozen is lost). */
  thaw(): void;
  close(): Promise<void>;
}

/** Starts a forwarder from a free loopback port to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let frozen = false;
  // Half-open sockets, so that a frozen proxy ignores a FIN as a silent network does: a
  // peer that ends its connection then waits for an answer that never comes.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('data', (b) => frozen || upstream.write(b));
    upstream.on('data', (b) => frozen || client.write(b));
    client.on('end', () => frozen || upstream.end());
    upstream.on('end', () => frozen || client.end());
    client.on('close', () => frozen || upstream.destroy());
    upstream.on('close', () => frozen || client.destroy());
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(0);
  const port = (server.address() as { port: number }).port;
  const cut = async () => {
    for (const s of sockets) s.destroy();
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    port,
    cut,
    restore: () => listen(port),
    freeze: () => void (frozen = true),
    thaw: () => void (frozen = false),
    close: cut,
  };
}
