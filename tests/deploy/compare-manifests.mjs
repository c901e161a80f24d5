// Compares two multi-document YAML manifests object by object, in order, comments and formatting
// aside (kustomize versions format alike objects differently): the committed rendered manifests
// against what `kubectl kustomize` makes of deploy/kubernetes, or one variant against another.
// Usage: node compare-manifests.mjs EXPECTED.yaml ACTUAL.yaml [--drop-kind KIND] [--ignore-security-contexts]
//   --drop-kind KIND            leaves ACTUAL's objects of that kind out (the base is the default
//                               without its ServiceMonitor)
//   --ignore-security-contexts  leaves the pod and container security contexts out, on both sides
//                               (the least-privilege overlay changes those, and only those)
// Exit 0 when they hold the same objects; 1 naming the first difference otherwise; 2 on bad usage.
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments } from "yaml";

const args = process.argv.slice(2);
let drop = null;
const i = args.indexOf("--drop-kind");
if (i >= 0) {
  drop = args[i + 1];
  args.splice(i, 2);
}
const j = args.indexOf("--ignore-security-contexts");
const ignoreSecurityContexts = j >= 0;
if (ignoreSecurityContexts) args.splice(j, 1);
if (args.length !== 2 || (i >= 0 && !drop)) {
  console.error("usage: compare-manifests.mjs EXPECTED.yaml ACTUAL.yaml [--drop-kind KIND] [--ignore-security-contexts]");
  process.exit(2);
}

function objects(file) {
  const out = [];
  for (const d of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (d.errors.length) {
      console.error(`${file}: YAML: ${d.errors.map((e) => e.message).join("; ")}`);
      process.exit(1);
    }
    const o = d.toJS();
    const pod = o?.spec?.template?.spec;
    if (ignoreSecurityContexts && pod) {
      delete pod.securityContext;
      for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) delete c.securityContext;
    }
    if (o) out.push(o);
  }
  return out;
}

const name = (o) => `${o?.kind} ${o?.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o?.metadata?.name}`;
const [expectedFile, actualFile] = args;
const expected = objects(expectedFile);
const actual = objects(actualFile).filter((o) => o.kind !== drop);
const n = Math.max(expected.length, actual.length);
for (let k = 0; k < n; k++) {
  if (!isDeepStrictEqual(expected[k], actual[k])) {
    console.error(
      `${actualFile} differs from ${expectedFile} at object ${k + 1}: ` +
        (name(expected[k]) === name(actual[k]) ? `${name(actual[k])} has other content` : `${name(actual[k])} where ${name(expected[k])} was expected`),
    );
    process.exit(1);
  }
}
