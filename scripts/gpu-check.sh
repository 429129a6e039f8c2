#!/usr/bin/env bash
# GPU check for issue 12 (node agent): run on a real GPU server from the repository root. Builds
# nothing heavy: it uses the checkout's tsx when node_modules is there, else the one-file agent
# bundle (npm run build:agent, then carry dist/agent-bundle). Prints `nvidia-smi -L`, then
# `neocloud agent --once --json` (one discovery + one heartbeat sample from the real nvidia-smi),
# then the human summary. Needs Node >= 20. No control plane and no network needed.
set -u
cd "$(dirname "$0")/.."
echo "== date: $(date -u +%FT%TZ)  host: $(hostname)"
echo "== nvidia-smi -L"
nvidia-smi -L || echo "(nvidia-smi -L exited $?)"
echo "== node $(node --version 2>/dev/null || echo 'not found')"
if [ -x node_modules/.bin/tsx ]; then
  run=(node --import tsx src/cli/main.ts agent)
elif [ -f dist/agent-bundle/neocloud-agent.mjs ]; then
  run=(node dist/agent-bundle/neocloud-agent.mjs)
else
  echo "no node_modules and no dist/agent-bundle/neocloud-agent.mjs: run 'npm run build:agent' first and carry dist/agent-bundle" >&2
  exit 2
fi
echo "== neocloud agent --once --json"
"${run[@]}" --once --json
rc=$?
echo "== exit code: $rc"
echo "== neocloud agent --once"
"${run[@]}" --once
exit $rc
