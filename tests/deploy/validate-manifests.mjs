// Validates rendered Kubernetes manifests (multi-document YAML, from `kubectl kustomize`):
// every object against the Kubernetes OpenAPI schemas (kubernetes-models) or, for the
// ServiceMonitor, the Prometheus Operator's (@kubernetes-models/prometheus-operator); then what
// ipctrace's deployment promises (the checks below).
// Usage: node validate-manifests.mjs default|least-privilege FILE.yaml
// Exit 0 when everything holds; 1 with one line per problem otherwise; 2 on bad usage.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const [variant, file] = process.argv.slice(2);
if (!["default", "least-privilege"].includes(variant) || !file) {
  console.error("usage: validate-manifests.mjs default|least-privilege FILE.yaml");
  process.exit(2);
}

const models = {
  "v1/Namespace": core.Namespace,
  "v1/ServiceAccount": core.ServiceAccount,
  "v1/Service": core.Service,
  "apps/v1/DaemonSet": apps.DaemonSet,
  "monitoring.coreos.com/v1/ServiceMonitor": monitoring.ServiceMonitor,
};

const problems = [];
const fail = (what) => problems.push(what);
const expect = (cond, what) => {
  if (!cond) fail(what);
};

// Schema validation of one object; returns the problems' text.
function schemaErrors(obj) {
  const Model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [e.message];
  }
}

const docs = parseAllDocuments(readFileSync(file, "utf8"));
const objects = [];
for (const d of docs) {
  if (d.errors.length) fail(`YAML: ${d.errors.map((e) => e.message).join("; ")}`);
  const o = d.toJS();
  if (o) objects.push(o);
}
for (const o of objects) {
  for (const e of schemaErrors(o)) fail(`${o.kind} ${o.metadata?.name}: ${e}`);
}

// The validator itself must reject what is wrong: a broken copy of the DaemonSet and of the
// ServiceMonitor (a string port number, a missing required field).
const find = (kind) => objects.filter((o) => o.kind === kind);
const one = (kind) => {
  const all = find(kind);
  expect(all.length === 1, `expected one ${kind}, found ${all.length}`);
  return all[0] ?? {};
};
const ds = one("DaemonSet");
const svc = one("Service");
const sm = one("ServiceMonitor");
const ns = one("Namespace");
const sa = one("ServiceAccount");
expect(objects.length === 5, `expected 5 objects, found ${objects.length}: ${objects.map((o) => o.kind).join(", ")}`);
{
  const broken = structuredClone(ds);
  broken.spec.template.spec.containers[0].ports[0].containerPort = "9477";
  expect(schemaErrors(broken).length > 0, "schema check accepted a string containerPort");
  const noContainers = structuredClone(ds);
  delete noContainers.spec.template.spec.containers;
  expect(schemaErrors(noContainers).length > 0, "schema check accepted a pod without containers");
  const badSm = structuredClone(sm);
  badSm.spec.endpoints[0].interval = 15;
  expect(schemaErrors(badSm).length > 0, "schema check accepted a numeric ServiceMonitor interval");
}

// Names and namespaces.
expect(ns.metadata?.name === "ipctrace", "namespace is not ipctrace");
for (const o of [ds, svc, sm, sa]) {
  expect(o.metadata?.namespace === "ipctrace", `${o.kind} is not in namespace ipctrace`);
}

// The DaemonSet.
const pod = ds.spec?.template?.spec ?? {};
const c = (pod.containers ?? [])[0] ?? {};
expect(pod.containers?.length === 1, "the agent pod should have one container");
expect(pod.hostPID === true, "hostPID is not true");
expect(pod.hostNetwork !== true, "hostNetwork should not be set");
expect(pod.serviceAccountName === sa.metadata?.name, "the pod does not use the ServiceAccount");
expect(pod.automountServiceAccountToken === false, "a service account token is mounted");
expect(pod.priorityClassName === "system-node-critical", "priorityClassName is not system-node-critical");
expect(
  (pod.tolerations ?? []).some((t) => t.operator === "Exists" && !t.key && !t.effect),
  "no toleration of every taint (operator: Exists)",
);
expect(ds.spec?.updateStrategy?.type === "RollingUpdate", "updateStrategy is not RollingUpdate");
expect(c.image === "ipctrace:0.1.0", `image is ${c.image}`);
expect(JSON.stringify(c.args) === JSON.stringify(["--host-root=/host", "--listen=0.0.0.0:9477"]), `args are ${JSON.stringify(c.args)}`);
expect(!c.command, "command overrides the image's entry point (ipctrace agent)");
const nodeEnv = (c.env ?? []).find((e) => e.name === "NODE_NAME");
expect(nodeEnv?.valueFrom?.fieldRef?.fieldPath === "spec.nodeName", "NODE_NAME does not come from spec.nodeName");
const port = (c.ports ?? []).find((p) => p.name === "metrics");
expect(port?.containerPort === 9477 && port?.protocol === "TCP", "no TCP port 9477 named metrics");
expect(c.livenessProbe?.httpGet?.path === "/healthz" && c.livenessProbe?.httpGet?.port === "metrics", "liveness is not GET /healthz on metrics");
expect(c.readinessProbe?.httpGet?.path === "/readyz" && c.readinessProbe?.httpGet?.port === "metrics", "readiness is not GET /readyz on metrics");
for (const k of ["requests", "limits"]) {
  expect(c.resources?.[k]?.cpu && c.resources?.[k]?.memory, `resources.${k} lacks cpu or memory`);
}
const tmplLabels = ds.spec?.template?.metadata?.labels ?? {};
for (const [k, v] of Object.entries(ds.spec?.selector?.matchLabels ?? {})) {
  expect(tmplLabels[k] === v, `selector label ${k} is not on the pod template`);
}
const podAnn = ds.spec?.template?.metadata?.annotations ?? {};
expect(podAnn["prometheus.io/scrape"] === "true" && podAnn["prometheus.io/port"] === "9477", "pod template lacks scrape annotations");

// Host mounts: every hostPath the agent reads, read-only, where --host-root or the kernel expects it.
const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
const wanted = {
  "/host/proc": "/proc",
  "/host/sys/fs/cgroup": "/sys/fs/cgroup",
  "/host/run/containerd/io.containerd.runtime.v2.task": "/run/containerd/io.containerd.runtime.v2.task",
  "/host/run/k3s/containerd/io.containerd.runtime.v2.task": "/run/k3s/containerd/io.containerd.runtime.v2.task",
  "/host/run/containers/storage": "/run/containers/storage",
  "/host/var/lib/containers/storage/overlay-containers": "/var/lib/containers/storage/overlay-containers",
  "/host/var/lib/docker/containers": "/var/lib/docker/containers",
  "/host/run/runc": "/run/runc",
  "/host/run/crun": "/run/crun",
  "/sys/kernel/btf": "/sys/kernel/btf",
  "/sys/kernel/tracing": "/sys/kernel/tracing",
  "/sys/fs/bpf": "/sys/fs/bpf",
};
for (const [at, host] of Object.entries(wanted)) {
  const m = mounts[at];
  if (!m) {
    fail(`no volume mounted at ${at}`);
    continue;
  }
  expect(m.readOnly === true, `${at} is not read-only`);
  expect(volumes[m.name]?.hostPath?.path === host, `${at} is not the host's ${host}`);
}
expect(Object.keys(mounts).length === Object.keys(wanted).length, `unexpected mounts: ${Object.keys(mounts).join(", ")}`);
for (const v of pod.volumes ?? []) {
  expect(Object.values(mounts).some((m) => m.name === v.name), `volume ${v.name} is not mounted`);
}

// Privileges.
const sc = c.securityContext ?? {};
expect(sc.readOnlyRootFilesystem === true, "root filesystem is not read-only");
expect(sc.runAsUser === 0, "the agent does not run as uid 0");
if (variant === "default") {
  expect(sc.privileged === true, "the default DaemonSet is not privileged");
} else {
  expect(sc.privileged === false, "the least-privilege DaemonSet is privileged");
  expect(sc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation is not false");
  expect(JSON.stringify(sc.capabilities?.drop) === '["ALL"]', "capabilities.drop is not [ALL]");
  expect(JSON.stringify(sc.capabilities?.add) === '["BPF","PERFMON"]', `capabilities.add is ${JSON.stringify(sc.capabilities?.add)}`);
  expect(sc.seccompProfile?.type === "RuntimeDefault", "container seccomp is not RuntimeDefault");
  expect(pod.securityContext?.seccompProfile?.type === "RuntimeDefault", "pod seccomp is not RuntimeDefault");
}

// The headless Service and the ServiceMonitor find the agents.
expect(svc.spec?.clusterIP === "None", "the Service is not headless");
for (const [k, v] of Object.entries(svc.spec?.selector ?? {})) expect(tmplLabels[k] === v, `Service selector ${k} misses the pods`);
const svcPort = (svc.spec?.ports ?? []).find((p) => p.name === "metrics");
expect(svcPort?.port === 9477 && svcPort?.targetPort === "metrics", "the Service has no port metrics -> metrics");
const svcAnn = svc.metadata?.annotations ?? {};
expect(svcAnn["prometheus.io/scrape"] === "true" && svcAnn["prometheus.io/port"] === "9477" && svcAnn["prometheus.io/path"] === "/metrics", "Service lacks scrape annotations");
const svcLabels = svc.metadata?.labels ?? {};
for (const [k, v] of Object.entries(sm.spec?.selector?.matchLabels ?? {})) expect(svcLabels[k] === v, `ServiceMonitor selector ${k} misses the Service`);
expect(JSON.stringify(sm.spec?.namespaceSelector?.matchNames) === '["ipctrace"]', "ServiceMonitor does not look in namespace ipctrace");
expect(sm.spec?.endpoints?.[0]?.port === "metrics" && sm.spec?.endpoints?.[0]?.path === "/metrics", "ServiceMonitor endpoint is not port metrics, /metrics");

if (problems.length) {
  for (const p of problems) console.error(`${variant}: ${p}`);
  process.exit(1);
}
console.log(`${variant}: ${objects.length} objects valid (${objects.map((o) => o.kind).join(", ")})`);
