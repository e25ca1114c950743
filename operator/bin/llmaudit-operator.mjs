#!/usr/bin/env node
// The llmaudit-operator binary (controllers, webhook, `inject`). dist/ is built by `npm ci` (prepare).
await import('../dist/llmaudit-operator.mjs');
