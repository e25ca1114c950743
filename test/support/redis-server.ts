// A real redis-server for tests (Debian's, which hack/install-tools.sh installs): loopback only,
// nothing persisted, its files in a folder of the test's.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A loopback port nothing listens on (at the moment it is returned). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Starts redis-server on `port` with its files in `dir`; resolves once it answers PING. */
export async function startRedisServer(port: number, dir: string): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
  probe.on('error', () => {});
  try {
    await probe.connect().catch(() => {});
    await probe.ping();
  } finally {
    probe.disconnect();
  }
  return server;
}
