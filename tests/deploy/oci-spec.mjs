// Makes runc's config.json for the agent container from the rendered DaemonSet, as a kubelet
// and a CRI runtime would: the image's entry point and the container's args, NODE_NAME from the
// node, hostPID (the host's PID namespace), every hostPath volume bound where the container
// mounts it (read-only where it says so), and the security context: privileged (every
// capability, /sys writable, no masked paths) or the listed capabilities, readOnlyRootFilesystem,
// allowPrivilegeEscalation. There is no CNI here: the container shares the host's network
// namespace and --listen is moved to a loopback port the test chose.
// Usage: node oci-spec.mjs RENDERED.yaml IMAGE.json ROOTFS NODE LISTEN CGROUPS_PATH [--drop-cap CAP]
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const args = process.argv.slice(2);
let dropCap = null;
const dropAt = args.indexOf("--drop-cap");
if (dropAt >= 0) {
  dropCap = args[dropAt + 1];
  args.splice(dropAt, 2);
}
if (args.length !== 6) {
  console.error("usage: oci-spec.mjs RENDERED.yaml IMAGE.json ROOTFS NODE LISTEN CGROUPS_PATH [--drop-cap CAP]");
  process.exit(2);
}
const [manifest, imageJson, rootfs, node, listen, cgroupsPath] = args;
const ds = parseAllDocuments(readFileSync(manifest, "utf8"))
  .map((d) => d.toJS())
  .find((o) => o?.kind === "DaemonSet");
if (!ds) {
  console.error(`oci-spec: no DaemonSet in ${manifest}`);
  process.exit(1);
}
const image = JSON.parse(readFileSync(imageJson, "utf8"));
const pod = ds.spec.template.spec;
const c = pod.containers[0];
const sc = c.securityContext ?? {};

// Every capability runc knows on this kernel generation (CAP_CHECKPOINT_RESTORE is 40, the last).
const allCaps = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];
// containerd's default set, before the container's drop and add.
const defaultCaps = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
  "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"];
let caps;
if (sc.privileged) {
  // Every capability in the bounding set (the list above is in capability-number order), as a
  // runtime grants a privileged container what it holds itself.
  const bnd = BigInt("0x" + /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
  caps = allCaps.filter((_, bit) => (bnd >> BigInt(bit)) & 1n);
} else {
  const drop = sc.capabilities?.drop ?? [];
  caps = drop.includes("ALL") ? [] : defaultCaps.filter((x) => !drop.includes(x));
  for (const a of sc.capabilities?.add ?? []) if (!caps.includes(a)) caps.push(a);
}
if (dropCap) {
  const name = dropCap.replace(/^CAP_/, "");
  if (!caps.includes(name)) {
    console.error(`oci-spec: ${dropCap} is not in the container's capabilities (${caps.join(", ")})`);
    process.exit(1);
  }
  caps = caps.filter((x) => x !== name);
}
const capNames = caps.map((x) => `CAP_${x}`);

const processArgs = [...(image.Entrypoint ?? []), ...(c.args ?? [])].map((a) =>
  a.startsWith("--listen=") ? `--listen=${listen}` : a,
);
const env = [...(image.Env ?? [])];
for (const e of c.env ?? []) {
  if (e.value !== undefined) env.push(`${e.name}=${e.value}`);
  else if (e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") env.push(`${e.name}=${node}`);
  else {
    console.error(`oci-spec: cannot provide env ${e.name}`);
    process.exit(1);
  }
}

const mounts = [
  { destination: "/proc", type: "proc", source: "proc" },
  { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
  { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sc.privileged ? "rw" : "ro"] },
];
const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
for (const m of c.volumeMounts ?? []) {
  const v = volumes[m.name];
  if (!v?.hostPath) {
    console.error(`oci-spec: volume ${m.name} is not a hostPath`);
    process.exit(1);
  }
  mounts.push({
    destination: m.mountPath,
    type: "bind",
    source: v.hostPath.path,
    options: ["rbind", "rprivate", m.readOnly ? "ro" : "rw"],
  });
}

const namespaces = [{ type: "mount" }, { type: "ipc" }, { type: "uts" }];
if (!pod.hostPID) namespaces.push({ type: "pid" });
// hostNetwork or not, the test reaches the agent on the host's loopback (no CNI here).

const linux = {
  cgroupsPath,
  namespaces,
  resources: { devices: [{ allow: false, access: "rwm" }] },
};
if (!sc.privileged) {
  linux.maskedPaths = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"];
  linux.readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
}
const limits = c.resources?.limits ?? {};
if (limits.memory) {
  const m = /^(\d+)(Mi|Gi)$/.exec(limits.memory);
  if (!m) {
    console.error(`oci-spec: cannot read memory limit ${limits.memory}`);
    process.exit(1);
  }
  linux.resources.memory = { limit: Number(m[1]) * (m[2] === "Gi" ? 1 << 30 : 1 << 20) };
}

const config = {
  ociVersion: "1.0.2",
  process: {
    terminal: false,
    user: { uid: sc.runAsUser ?? 0, gid: 0 },
    args: processArgs,
    env,
    cwd: image.WorkingDir || "/",
    capabilities: { bounding: capNames, effective: capNames, permitted: capNames, inheritable: [], ambient: [] },
    // Below the hard limit the test inherits (20000 on the project machines): runc cannot raise it.
    rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
  },
  root: { path: rootfs, readonly: sc.readOnlyRootFilesystem === true },
  hostname: node,
  mounts,
  linux,
};
process.stdout.write(JSON.stringify(config, null, 2) + "\n");
