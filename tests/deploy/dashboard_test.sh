#!/usr/bin/env bash
# deploy/grafana/ipctrace.json parses, is a dashboard (panels with unique ids, each target with a
# query), and every ipctrace_* metric it queries is in a real agent's /metrics: the agent runs
# here (root, BPF) while a pipe moves data, and its page is scraped.
# Usage: tests/deploy/dashboard_test.sh IPCTRACE_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: dashboard_test.sh IPCTRACE_BINARY}
dashboard=$repo/deploy/grafana/ipctrace.json
work=$(mktemp -d)
agent=
cleanup() {
  if [ -n "$agent" ]; then kill -TERM "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The metric names the dashboard queries (histogram series as their family's name).
node - "$dashboard" >"$work/queried" <<'JS'
const fs = require("node:fs");
const d = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const fail = (m) => { console.error(`dashboard: ${m}`); process.exit(1); };
if (!Array.isArray(d.panels) || !d.title || !d.uid) fail("not a dashboard (title, uid, panels)");
const ids = new Set();
const queries = [];
for (const p of d.panels) {
  if (ids.has(p.id)) fail(`duplicate panel id ${p.id}`);
  ids.add(p.id);
  if (p.type === "row") continue;
  if (!p.targets?.length) fail(`panel "${p.title}" has no query`);
  for (const t of p.targets) {
    if (!t.expr) fail(`panel "${p.title}" target ${t.refId} has no expr`);
    queries.push(t.expr);
  }
}
for (const v of d.templating?.list ?? []) if (v.type === "query") queries.push(v.query.query ?? v.query);
const names = new Set();
for (const q of queries) for (const m of q.matchAll(/\bipctrace_[a-z_]+/g)) names.add(m[0].replace(/_(bucket|sum|count)$/, ""));
if (!names.size) fail("queries no ipctrace metric");
console.log([...names].sort().join("\n"));
JS

# A real agent's page, with a pipe flow and a blocked reader behind it.
port=$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$bin" agent --listen "127.0.0.1:$port" --interval 500ms 2>"$work/agent.log" &
agent=$!
for _ in $(seq 300); do
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
  kill -0 "$agent" 2>/dev/null || { cat "$work/agent.log" >&2; echo "dashboard test: the agent exited" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/agent.log" >&2; echo "dashboard test: agent not ready" >&2; exit 1; }
(sleep 0.2; dd if=/dev/zero bs=1000 count=10 2>/dev/null) | cat >/dev/null
sleep 1.5
curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics"
kill -TERM "$agent"
wait "$agent" || { cat "$work/agent.log" >&2; echo "dashboard test: the agent did not exit 0" >&2; exit 1; }
agent=

missing=0
while read -r name; do
  if ! grep -q "^$name\(_bucket\|_sum\|_count\)\?[{ ]" "$work/metrics"; then
    echo "dashboard test: $name is queried by the dashboard but not in the agent's /metrics" >&2
    missing=1
  fi
done <"$work/queried"
[ "$missing" -eq 0 ] || exit 1
echo "dashboard test: ok, $(wc -l <"$work/queried") metrics queried, all in /metrics: $(tr '\n' ' ' <"$work/queried")"
