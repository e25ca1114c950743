import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileEnv, parseEnvInstruction, readImageConfig } from './pod-sandbox.ts';

describe('the sandbox reads the Dockerfile as docker does', () => {
  it('ENV pairs with bare, double-quoted and single-quoted values', () => {
    // Regression: a quoted NODE_OPTIONS in Dockerfile.operator made the sandbox refuse the image config.
    expect(parseEnvInstruction('NODE_ENV=production NODE_OPTIONS="--enable-source-maps --max-semi-space-size=1"', 'Dockerfile')).toEqual({
      NODE_ENV: 'production',
      NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=1',
    });
    expect(parseEnvInstruction(`A=1 B='x y' C="q\\"r" D=`, 'Dockerfile')).toEqual({ A: '1', B: 'x y', C: 'q"r', D: '' });
  });

  it('refuses the legacy `ENV KEY VALUE` form and unterminated quotes', () => {
    expect(() => parseEnvInstruction('NODE_ENV production', 'Dockerfile')).toThrow(/not KEY=VALUE/);
    expect(() => parseEnvInstruction('A="open', 'Dockerfile')).toThrow(/not KEY=VALUE/);
  });

  it("the final stage's own ENV, every instruction of it, and not the build stage's", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'llmaudit-dockerfile-')), 'Dockerfile');
    writeFileSync(
      file,
      [
        'FROM node:20 AS build',
        'ENV BUILD_ONLY=1',
        'FROM gcr.io/distroless/nodejs20-debian12:nonroot',
        'WORKDIR /app',
        'COPY --from=build /out/ /app/',
        '# ENV COMMENTED=1',
        'ENV NODE_ENV=production',
        'ENV MALLOC_MMAP_THRESHOLD_=131072 \\',
        '    MALLOC_TRIM_THRESHOLD_=131072',
        'USER 10001:10001',
        'ENTRYPOINT ["/nodejs/bin/node", "/app/llmaudit.mjs"]',
        'CMD ["proxy"]',
      ].join('\n'),
    );
    const own = { NODE_ENV: 'production', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
    expect(dockerfileEnv(file)).toEqual(own);
    // The container's environment adds the base image's own variables.
    expect(readImageConfig(file).env).toEqual({ ...own, PATH: expect.any(String) as string, SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' });
  });
});
