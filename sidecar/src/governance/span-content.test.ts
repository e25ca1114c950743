import { describe, expect, it } from 'vitest';
import { parseSidecarConfig } from '../config/validate.ts';
import { effectiveTelemetry } from './span-content.ts';

const base = { listeners: [{ port: 8080 }], endpoints: [{ name: 'openai', upstream: 'https://api.openai.com' }], telemetry: { captureContent: true } };

describe('content on spans under redaction', () => {
  it('captureContent stays on when nothing redacts (flag-only detectors included)', () => {
    // Regression: with captureContent on, span message attributes carried values the log had redacted.
    expect(effectiveTelemetry(parseSidecarConfig(base)).captureContent).toBe(true);
    const flagOnly = parseSidecarConfig({ ...base, governance: { detectors: { email: { action: 'flag' } } } });
    expect(effectiveTelemetry(flagOnly).captureContent).toBe(true);
  });

  it('is off under capture.mode redacted, a redacting detector, a redacting response action or custom detector', () => {
    const cases = [
      { capture: { mode: 'redacted' } },
      { governance: { detectors: { email: { action: 'redact-in-log' } } } },
      { governance: { detectors: { card: { action: 'redact-upstream' } } } },
      { governance: { detectors: { email: { action: 'flag', responses: 'redact-in-log' } } } },
      { governance: { customDetectors: [{ name: 'ticket', pattern: 'TK-[0-9]{6}', action: 'redact-in-log' }] } },
    ];
    for (const c of cases) expect(effectiveTelemetry(parseSidecarConfig({ ...base, ...c })).captureContent, JSON.stringify(c)).toBe(false);
  });
});
