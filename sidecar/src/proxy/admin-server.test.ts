// The admin server's own behaviour: readiness reasons, a log that is not available, HEAD, and a
// failing bind. Serving real checkpoints and proofs is covered with a real log in sidecar.test.ts.
import { createServer } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminServer, type AdminServer, type Readiness } from './admin-server.ts';

const silent = pino({ level: 'silent' });

describe('admin server', () => {
  let admin: AdminServer | null = null;
  afterEach(async () => {
    await admin?.close();
    admin = null;
  });

  async function start(readiness: () => Readiness) {
    admin = createAdminServer({ address: '127.0.0.1', port: 0, registry: new Registry(), log: () => null, readiness, logger: silent });
    const { port } = await admin.start();
    return `http://127.0.0.1:${port}`;
  }

  it('/readyz is 503 with the reasons until ready, then 200', async () => {
    let r: Readiness = { ready: false, reasons: ['proxy listeners are not up'] };
    const url = await start(() => r);
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not ready', reasons: ['proxy listeners are not up'] });
    r = { ready: true, reasons: [] };
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('without an open log, checkpoint and proofs are 503 LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE', async () => {
    const url = await start(() => ({ ready: false, reasons: [] }));
    for (const p of ['/v1/checkpoint', '/v1/proof/inclusion?seq=0', '/v1/proof/consistency?from=0']) {
      const res = await fetch(`${url}${p}`);
      expect(res.status, p).toBe(503);
      expect(await res.json()).toEqual({ error: { code: 'LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE', message: 'the audit log is not open' } });
    }
  });

  it('an address in use is LLMAUDIT_E_ADMIN_LISTEN', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address() as { port: number };
    admin = createAdminServer({ address: '127.0.0.1', port, registry: new Registry(), log: () => null, readiness: () => ({ ready: true, reasons: [] }), logger: silent });
    await expect(admin.start()).rejects.toMatchObject({ code: 'LLMAUDIT_E_ADMIN_LISTEN' });
    await new Promise<void>((r) => blocker.close(() => r()));
  });
});
