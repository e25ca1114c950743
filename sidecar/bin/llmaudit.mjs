#!/usr/bin/env node
// The llmaudit CLI. dist/ is built by `npm ci` (prepare) and before every test run.
await import('../dist/llmaudit.mjs');
