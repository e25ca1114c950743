import { describe, expect, it } from 'vitest';
import { endAttributes } from '../telemetry/span-attributes.ts';
import { spanGovernance } from './exchange-hook.ts';

describe('span attributes of a decision', () => {
  it('carry decision, mode, risk, reasons, detector names and cost; never a detected value', () => {
    const governance = spanGovernance({
      costUsd: 0.0021,
      decision: 'redact',
      detections: [
        { detector: 'email', path: '/request/body/messages/0/content', count: 2, action: 'redact-in-log' },
        { detector: 'email', path: '/request/body/messages/1/content', count: 1, action: 'redact-in-log' },
      ],
      mode: 'enforce',
      reasons: ['detector:email'],
      risk: 70,
    });
    const a = endAttributes({ exchange: null, status: 200, errorType: null, spanType: 'FINAL_RESPONSE', endedAt: 0, ttfbMs: null, seq: 1, entryHash: 'h', origin: 'o', governance });
    expect(a).toMatchObject({
      'llmaudit.governance.decision': 'redact',
      'llmaudit.governance.mode': 'enforce',
      'llmaudit.governance.risk': 70,
      'llmaudit.governance.reasons': ['detector:email'],
      'llmaudit.governance.detectors': ['email'],
      'llmaudit.usage.cost_usd': 0.0021,
    });
  });
});
