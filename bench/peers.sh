#!/usr/bin/env bash
# Installs the two peer gateways bench/compare.py runs beside Headway, at the versions
# ../shared/calibration.md measured, into bench/.peers (ignored by git; nothing of the
# project depends on them): LiteLLM's proxy in its own virtual environment, the Portkey
# gateway from npm. Then: .venv/bin/python bench/compare.py (it finds them there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/.peers"
mkdir -p "$peers/portkey"
if [ ! -x "$peers/litellm/bin/litellm" ]; then
  python3 -m venv "$peers/litellm"
  "$peers/litellm/bin/pip" install -q 'litellm[proxy]==1.108.7'
fi
if [ ! -x "$peers/portkey/node_modules/.bin/gateway" ]; then
  (cd "$peers/portkey" && npm init -y >/dev/null && npm install --silent @portkey-ai/gateway@1.15.2)
fi
echo "litellm: $peers/litellm/bin/litellm"
echo "portkey: $peers/portkey/node_modules/.bin/gateway"
