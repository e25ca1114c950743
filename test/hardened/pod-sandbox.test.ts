import { describe, expect, it } from 'vitest';
import { parseEnvInstruction } from './pod-sandbox.ts';

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
});
