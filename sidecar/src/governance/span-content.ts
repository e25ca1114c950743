// Message content on spans (`telemetry.captureContent`) and redaction do not mix: spans go to a
// shared tracing backend, and a redacted value must never reach it (docs/governance.md
// "Redaction"). When anything redacts — `capture.mode: redacted`, or a detector whose action or
// response action is a redaction — the effective telemetry carries no content, whatever
// captureContent says.
import type { SidecarConfig } from '../config/schema.ts';

const REDACTING = new Set(['redact-in-log', 'redact-upstream']);

/** True when some setting redacts matches, so content must stay off spans. */
export function redactionActive(config: Pick<SidecarConfig, 'capture' | 'governance'>): boolean {
  if (config.capture.mode === 'redacted') return true;
  const g = config.governance;
  const rules = [...Object.values(g.detectors), ...g.customDetectors];
  return rules.some((r) => REDACTING.has(r.action) || REDACTING.has(r.responses));
}

/** The telemetry settings the tracer runs with. */
export function effectiveTelemetry(config: Pick<SidecarConfig, 'capture' | 'governance' | 'telemetry'>): SidecarConfig['telemetry'] {
  return config.telemetry.captureContent && redactionActive(config) ? { ...config.telemetry, captureContent: false } : config.telemetry;
}
