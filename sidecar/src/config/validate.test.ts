import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isLlmauditError } from '../errors.ts';
import { parseSidecarConfig } from './validate.ts';
import { configValidatorSource } from './validator-codegen.ts';

const minimal = {
  listeners: [{ port: 8080 }],
  endpoints: [{ name: 'openai', upstream: 'https://api.openai.com' }],
};

describe('parseSidecarConfig', () => {
  it('validates with the code Ajv generates from the schema now (config-validator.generated.ts is not stale)', async () => {
    expect(await readFile(new URL('./config-validator.generated.ts', import.meta.url), 'utf8')).toBe(configValidatorSource());
  });

  it('fills defaults and freezes the result', () => {
    const cfg = parseSidecarConfig(minimal);
    expect(cfg.listeners[0]?.address).toBe('127.0.0.1');
    expect(cfg.endpoints[0]?.api).toBe('auto');
    expect(cfg.capture.maxBodyBytes).toBe(1048576);
    expect(cfg.log.durability).toBe('batched');
    expect(cfg.telemetry.captureContent).toBe(false);
    expect(Object.isFrozen(cfg.capture)).toBe(true);
    expect(() => {
      (cfg.capture as { mode: string }).mode = 'metadata';
    }).toThrow(TypeError);
  });

  it('log.retention.mode: erase-content by default, delete-segments when asked, anything else refused', () => {
    expect(parseSidecarConfig(minimal).log.retention.mode).toBe('erase-content');
    expect(parseSidecarConfig({ ...minimal, log: { retention: { maxAgeDays: 30, mode: 'delete-segments' } } }).log.retention).toEqual({ maxAgeDays: 30, mode: 'delete-segments' });
    expect(() => parseSidecarConfig({ ...minimal, log: { retention: { mode: 'delete' } } })).toThrow(/retention\/mode/);
  });

  it('lists every problem with its path in one error', () => {
    let err: unknown;
    try {
      parseSidecarConfig({ ...minimal, listeners: [{ port: 70000 }], capture: { mode: 'everything', bogus: 1 } });
    } catch (e) {
      err = e;
    }
    expect(isLlmauditError(err, 'LLMAUDIT_E_CONFIG_INVALID')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('/listeners/0/port');
    expect(msg).toContain('/capture: unknown key "bogus"');
    expect(msg).toContain('/capture/mode');
  });

  it('rejects duplicate endpoints and dangling default endpoints', () => {
    expect(() =>
      parseSidecarConfig({
        listeners: [{ port: 1, defaultEndpoint: 'nope' }],
        endpoints: [
          { name: 'a', upstream: 'http://x' },
          { name: 'a', upstream: 'http://y' },
        ],
      }),
    ).toThrow(/duplicate endpoint a.*defaultEndpoint: no endpoint named nope/);
  });
});
