#!/usr/bin/env python3
"""What ipctrace costs the node, side by side with the alternatives (bench/README.md).

Sections, each measured on this machine in one run:
  overhead  stress-ng IPC stressors (bogo-ops/s) and `perf bench sched pipe` (latency), and an
            unrelated syscall-heavy workload (page-cache file reads), under: no tracer, empty
            programs on ipctrace's hooks (the floor), `ipctrace agent` (default and
            --no-wait-time) and a bpftrace script doing per-cgroup accounting. Configurations
            alternate in rounds, in rotating order; medians of same-round ratios are reported.
  agent     the agent's CPU (user+sys) and peak RSS at paced IPC rates; records lost at the
            highest rates, data operations and lifecycle events; beside a noisy neighbour (a
            quiet container exact within two collections while another churns channels); the
            kernel maps planned per number of possible CPUs.
  scale     collection cycle and /metrics scrape time with 1, 100 and 1,000 containers' worth of
            flows (cgroups with a process each) and at the cardinality cap.

Writes results.md, results.json and scale.svg into --out. Python 3 standard library only.
Exit status: 0 measured, 1 could not measure (not root, foreign BPF programs loaded, a
configuration failed, verification failed), 2 bad usage, 128+signal when interrupted.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NAME = "ipctrace-bench"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BPFTRACE_SCRIPT = os.path.join(HERE, "ipc_accounting.bt")
ATTACHED_MARKER = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"

# stress-ng stressor -> the ipctrace kind its messages are counted under.
STRESSORS = [
    ("pipe", "pipe"),
    ("fifo", "fifo"),
    ("msg", "sysv_msg"),
    ("mq", "posix_mq"),
    ("sock", "tcp"),
    ("udp", "udp"),
    ("sockpair", "unix_stream"),
]
# sockpair makes a new socket pair per bogo-op, over 100,000 a second: each is a new channel, and
# the agent's flow map (65,536 entries by default, entries kept until --idle-timeout) fills within
# a second. It runs last, after perf bench, so that only its own records can be lost; for it the
# check accepts loss the agent reported (ipctrace_records_lost_total), never silent loss.
CHURN_KIND = "unix_stream"
TOLERANCE = 0.99  # stress-ng's bogo-ops are not exact syscall counts (msg is off by one)
PERF_KIND = "pipe"

ALL_CONFIGS = ["none", "floor", "floor-nowait", "ipctrace", "ipctrace-nowait", "bpftrace"]
CONFIG_DOC = {
    "none": "nothing attached",
    "floor": "empty programs on every hook the agent attaches (sys_exit, sys_enter, sock_send_length, "
    "sock_recv_length, signal_generate)",
    "floor-nowait": "the same without sys_enter: the floor of --no-wait-time",
    "ipctrace": "`ipctrace agent` with its defaults (counting and wait time)",
    "ipctrace-nowait": "`ipctrace agent --no-wait-time` (counting only)",
    "bpftrace": "bench/ipc_accounting.bt: per-cgroup messages and bytes sent and received on the IPC syscalls",
}
# Configurations that run the IPC workloads; floor-nowait only matters for the unrelated one.
IPC_CONFIGS = {"none", "floor", "ipctrace", "ipctrace-nowait", "bpftrace"}

GOAL_PIPE_RATIO = 0.5  # ipctrace's cost on the pipe stressor at most half of bpftrace's
GOAL_UNRELATED_PP = 1.0  # within 1 percentage point of the floor on the unrelated workload
GOAL_AGENT_CPU = 2.0  # % of one core at 10,000 IPC operations per second
GOAL_AGENT_RSS_MIB = 50.0
GOAL_KERNEL_MAP_MIB = 64.0  # the agent's kernel maps at the defaults, on any number of CPUs
# Possible CPUs the kernel memory is planned for (`ipctrace probe --possible-cpus`).
MEMORY_CPUS = [2, 8, 16, 32, 64, 96, 128, 192, 256, 384]


class Interrupted(Exception):
    def __init__(self, sig):
        super().__init__(signal.Signals(sig).name)
        self.sig = sig


class BenchError(Exception):
    pass


def on_signal(sig, _frame):
    raise Interrupted(sig)


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup(cgroup=None):
    # Dies with us even if we are SIGKILLed; its own process group, so a terminal's ^C reaches
    # only us and we stop it in order. In `cgroup` (a Cgroup) if given.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)
    if cgroup is not None:
        with open(os.path.join(cgroup.path, "cgroup.procs"), "w", encoding="ascii") as f:
            f.write("0")  # the writing process itself


def cgroup2_root():
    with open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "cgroup2":
                return parts[1]
    raise BenchError("no cgroup2 mount in /proc/mounts")


class Cgroup:
    """A cgroup v2 of ours ("container"): its processes killed and the cgroup removed on remove()."""

    def __init__(self, name):
        root = cgroup2_root()
        self.path = os.path.join(root, f"{NAME}-{name}-{os.getpid()}")
        os.mkdir(self.path)
        self.label = self.path[len(root):]  # how the agent names a host cgroup: its path below the root

    def remove(self):
        try:
            with open(os.path.join(self.path, "cgroup.kill"), "w", encoding="ascii") as f:
                f.write("1")
        except OSError:
            pass
        for _ in range(200):  # killed processes leave the cgroup within moments
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)
        log(f"warning: could not remove {self.path}")


class Proc:
    """A child process we own: stopped (signal, then SIGKILL) and reaped on close()."""

    live = set()

    def __init__(self, argv, stdout=None, stderr=None, stdin=subprocess.DEVNULL, env=None, text=True, cgroup=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, text=text,
                                  preexec_fn=lambda: _child_setup(cgroup), start_new_session=True)
        Proc.live.add(self)

    @property
    def pid(self):
        return self.p.pid

    def close(self, sig=signal.SIGTERM, grace=10.0):
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f is not None:
                f.close()
        Proc.live.discard(self)
        return self.p.returncode

    @classmethod
    def close_all(cls):
        for p in list(cls.live):
            try:
                p.close(grace=5.0)
            except Exception:  # pylint: disable=broad-except
                p.p.kill()
                Proc.live.discard(p)


def run(argv, timeout, **kw):
    """Runs to completion (killed after `timeout`); returns CompletedProcess. Owned while it runs."""
    p = Proc(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    try:
        out, err = p.p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        p.close(signal.SIGKILL)
        raise BenchError(f"{' '.join(argv)}: still running after {timeout}s") from e
    finally:
        if p in Proc.live:
            p.close()
    return subprocess.CompletedProcess(argv, p.p.returncode, out, err)


def wait_line(proc, prefix, timeout, what):
    """Reads proc's stdout until a line starting with `prefix`; returns the rest of it."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.p.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line[len(prefix):].strip()
        seen.append(line.strip())
    raise BenchError(f"{what} did not become ready: {' | '.join(seen[-3:]) or 'no output'}")


# ---- BPF programs loaded -----------------------------------------------------------------------


def loaded_programs():
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=30, check=False)
    if r.returncode != 0:
        raise BenchError(f"bpftool prog show: {r.stderr.strip()}")
    return {p["id"]: f"{p.get('name', '?')} ({p.get('type', '?')}, id {p['id']})" for p in json.loads(r.stdout or "[]")}


def wait_no_programs(timeout):
    """The kernel frees detached programs through deferred work: waits until none is loaded."""
    deadline = time.monotonic() + timeout
    while True:
        progs = loaded_programs()
        if not progs or time.monotonic() >= deadline:
            return progs
        time.sleep(0.1)


# ---- agent ---------------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=30.0):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read()
    return body, time.perf_counter() - t0


METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] from the Prometheus text format."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def proc_cpu_seconds(pid):
    """CPU time (user + system) of every thread of `pid`, in nanosecond resolution (schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


class Agent:
    """`ipctrace agent` on a free loopback port; ready once /readyz answers 200."""

    def __init__(self, binary, logdir, extra=()):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logpath = os.path.join(logdir, f"agent-{self.port}.log")
        self.logfile = open(self.logpath, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.proc = Proc([binary, "agent", "--listen", f"127.0.0.1:{self.port}", *extra], stdout=self.logfile,
                         stderr=subprocess.STDOUT)
        self.interval = 1.0
        for i, a in enumerate(extra):
            if a == "--interval":
                self.interval = parse_seconds(extra[i + 1])
        deadline = time.monotonic() + 60
        while True:
            if self.proc.p.poll() is not None:
                raise BenchError(f"ipctrace agent exited with {self.proc.p.returncode}: {self.log_tail()}")
            try:
                _, _ = http_get(self.base + "/readyz", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"ipctrace agent not ready after 60 s: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self):
        self.logfile.flush()
        with open(self.logpath, encoding="utf-8", errors="replace") as f:
            lines = [x.strip() for x in f.read().splitlines() if x.strip()]
        return " | ".join(lines[-3:]) or "no output"

    def metrics(self):
        body, took = http_get(self.base + "/metrics")
        return parse_metrics(body.decode()), took, len(body)

    def counters(self):
        """(messages per kind, records lost, collections) from /metrics."""
        msgs, lost, cycles = {}, 0.0, 0.0
        for name, labels, value in self.metrics()[0]:
            # Sent messages: those of kept flows, and those folded per container (a full flow
            # table: their peers are not kept, their counts are).
            if name == "ipctrace_ipc_messages_total" or (
                name == "ipctrace_ipc_folded_messages_total" and labels.get("direction") == "send"
            ):
                msgs[labels.get("kind", "")] = msgs.get(labels.get("kind", ""), 0) + value
            elif name == "ipctrace_records_lost_total":
                lost += value
            elif name == "ipctrace_collections_total":
                cycles = value
        return msgs, lost, cycles

    def wait_collection(self, after=None):
        """Waits until a collection cycle completes after now; returns the metrics then."""
        _, _, start = self.counters() if after is None else (None, None, after)
        deadline = time.monotonic() + 10 * self.interval + 10
        while time.monotonic() < deadline:
            time.sleep(min(0.1, self.interval / 4))
            msgs, lost, cycles = self.counters()
            if cycles >= start + 2:  # one that started after now has completed
                return msgs, lost, cycles
        raise BenchError("the agent completed no collection cycle in time")

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)

    def close(self):
        rc = self.proc.close(signal.SIGTERM, grace=15)
        self.logfile.close()
        if rc != 0:
            raise BenchError(f"ipctrace agent exited with {rc} on SIGTERM: {self.log_tail()}")


def parse_seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    if not m:
        raise BenchError(f"cannot read duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


# ---- configurations ------------------------------------------------------------------------------


class Attachment:
    """What one configuration runs while the workloads do; close() stops it."""

    def __init__(self, config, ctx):
        self.config = config
        self.ctx = ctx
        self.agent = None
        self.proc = None
        self.bpftrace_out = None
        if config in ("ipctrace", "ipctrace-nowait"):
            self.agent = Agent(ctx.ipctrace, ctx.tmp, [] if config == "ipctrace" else ["--no-wait-time"])
            self.msgs0, self.lost0, _ = self.agent.counters()
            self.cpu0 = self.agent.cpu_seconds()
        elif config in ("floor", "floor-nowait"):
            argv = [ctx.helper, "floor"] + (["--no-sys-enter"] if config == "floor-nowait" else [])
            self.proc = Proc(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            wait_line(self.proc, "ready", 60, "the floor programs")
        elif config == "bpftrace":
            self.bpftrace_out = tempfile.TemporaryFile(mode="w+", dir=ctx.tmp)
            env = dict(os.environ, **{ATTACHED_MARKER: "1"})
            self.proc = Proc([ctx.bpftrace, BPFTRACE_SCRIPT], stdout=self.bpftrace_out, stderr=subprocess.STDOUT,
                             env=env)
            deadline = time.monotonic() + 120
            while True:
                self.bpftrace_out.seek(0)
                text = self.bpftrace_out.read()
                if ATTACHED_MARKER in text:
                    break
                if self.proc.p.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"bpftrace did not attach: {text.strip()[-300:] or 'no output'}")
                time.sleep(0.05)
        self.programs = set(loaded_programs())

    def check_no_foreign(self):
        new = {i: d for i, d in loaded_programs().items() if i not in self.programs}
        if new:
            raise BenchError(f"BPF programs appeared during the `{self.config}` sample that it did not load: "
                             f"{', '.join(new.values())}; someone else is tracing, figures would be skewed")

    def finish(self, expected):
        """Stops; returns the verification {checked, ok, detail, ...} against `expected` messages per kind."""
        self.check_no_foreign()
        if self.agent is not None:
            msgs, lost, _ = self.agent.wait_collection()
            cpu = self.agent.cpu_seconds() - self.cpu0
            counted = {k: int(msgs.get(k, 0) - self.msgs0.get(k, 0)) for k in expected}
            lost_delta = int(lost - self.lost0)
            short = {k: (counted[k], v) for k, v in expected.items() if counted[k] < TOLERANCE * v}
            # Reported loss excuses only the churn stressor, which runs last.
            excused = CHURN_KIND in short and lost_delta > 0
            if excused:
                del short[CHURN_KIND]
            self.close()
            ok = not short
            detail = ("every stressor's messages counted under its kind" if not short else "short: " + ", ".join(
                f"{k} counted {c} < {v}" for k, (c, v) in short.items()))
            if excused:
                detail += (f"; {CHURN_KIND} short ({counted[CHURN_KIND]} < {expected[CHURN_KIND]}) with "
                           f"{lost_delta} records lost, reported: the flow map filled with socket pairs")
            elif lost_delta:
                detail += f"; {lost_delta} records lost"
            return {"checked": True, "ok": ok, "detail": detail, "counted": counted, "expected": expected,
                    "records_lost": lost_delta, "agent_cpu_seconds": cpu}
        if self.config == "bpftrace":
            self.close()
            self.bpftrace_out.seek(0)
            text = self.bpftrace_out.read()
            self.bpftrace_out.close()
            sent = sum(int(m) for m in re.findall(r"^@send_msgs\[\d+\]: (\d+)$", text, re.M))
            want = sum(expected.values())
            ok = sent >= TOLERANCE * want
            return {"checked": True, "ok": ok, "counted": {"send_msgs": sent}, "expected": {"send_msgs": want},
                    "detail": f"@send_msgs summed {sent} over all cgroups; the stressors sent at least {want}"}
        self.close()
        return {"checked": False, "ok": True, "detail": "nothing to check"}

    def close(self):
        if self.agent is not None:
            agent, self.agent = self.agent, None
            agent.close()
        if self.proc is not None:
            proc, self.proc = self.proc, None
            # bpftrace prints its maps on SIGINT; the floor holder stops on it too.
            rc = proc.close(signal.SIGINT, grace=30)
            if rc not in (0, -signal.SIGINT):
                raise BenchError(f"{os.path.basename(proc.argv[0])} exited with {rc} when stopped")


# ---- workloads -----------------------------------------------------------------------------------


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cpu(argv, timeout):
    """run(), and the CPU time (user + system) it and every descendant it waited for used. This
    counts what the workload costs, BPF programs included (they run in its context), and not the
    time other processes on this shared machine took the CPU away."""
    c0 = children_cpu()
    r = run(argv, timeout=timeout)
    return r, children_cpu() - c0


def stress(ctx, stressor, seconds):
    """bogo-ops per CPU-second and bogo-ops of one stress-ng stressor instance, pinned to one CPU."""
    yaml = os.path.join(ctx.tmp, f"stress-{stressor}.yaml")
    workdir = tempfile.mkdtemp(dir=ctx.tmp)
    try:
        r, cpu = run_cpu(["taskset", "-c", str(ctx.opt.cpu), "stress-ng", f"--{stressor}", "1", "--timeout",
                          f"{seconds}s", "--metrics-brief", "--yaml", yaml, "--temp-path", workdir],
                         timeout=seconds + 60)
        if r.returncode != 0:
            raise BenchError(f"stress-ng --{stressor}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
        with open(yaml, encoding="utf-8") as f:
            text = f.read()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if os.path.exists(yaml):
            os.unlink(yaml)
    ops = re.search(r"^\s*bogo-ops:\s*(\d+)", text, re.M)
    if not ops or cpu <= 0:
        raise BenchError(f"stress-ng --{stressor}: no bogo-ops in its YAML output")
    return int(ops.group(1)) / cpu, int(ops.group(1))


def perf_pipe(ctx, loops):
    """CPU microseconds per round trip of `perf bench sched pipe`, both processes on one CPU."""
    r, cpu = run_cpu(["taskset", "-c", str(ctx.opt.cpu), ctx.perf, "bench", "sched", "pipe", "-l", str(loops)],
                     timeout=300)
    if r.returncode != 0 or "usecs/op" not in r.stdout:
        raise BenchError(f"perf bench sched pipe: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")
    return cpu / loops * 1e6


def fileread(ctx, calls):
    """CPU nanoseconds per 4 KiB read (the reading thread's CPU time), pinned to one CPU."""
    r = run(["taskset", "-c", str(ctx.opt.cpu), ctx.helper, "fileread", "--calls", str(calls)], timeout=300)
    if r.returncode != 0:
        raise BenchError(f"fileread: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


# ---- section: overhead ---------------------------------------------------------------------------


def median(xs):
    return statistics.median(xs) if xs else None


def overhead_section(ctx):
    opt = ctx.opt
    configs = [c for c in ALL_CONFIGS if c in ctx.configs]
    workloads = [f"stress-ng {s}" for s, _ in STRESSORS] + ["perf bench sched pipe", "file reads (unrelated)"]
    samples = {w: {c: [] for c in configs} for w in workloads}  # [(round, value)]
    verification = []
    agent_cpu = {c: [] for c in configs}
    for rnd in range(opt.rounds):
        order = [configs[(rnd + k) % len(configs)] for k in range(len(configs))]
        progress = []
        for config in order:
            leftover = wait_no_programs(10)
            if leftover:
                raise BenchError(f"before `{config}`: BPF programs still loaded: {', '.join(leftover.values())}")
            t0 = time.monotonic()
            att = Attachment(config, ctx)
            try:
                expected = {}
                if config in IPC_CONFIGS:
                    for stressor, kind in STRESSORS:
                        if kind == CHURN_KIND:
                            usecs = perf_pipe(ctx, opt.perf_loops)
                            samples["perf bench sched pipe"][config].append((rnd, usecs))
                            # Each round trip is a write by each of the two processes.
                            expected[PERF_KIND] = expected.get(PERF_KIND, 0) + 2 * opt.perf_loops
                        rate, ops = stress(ctx, stressor, opt.stress_seconds)
                        samples[f"stress-ng {stressor}"][config].append((rnd, rate))
                        expected[kind] = expected.get(kind, 0) + ops
                fr = fileread(ctx, opt.file_calls)
                samples["file reads (unrelated)"][config].append((rnd, fr["cpu_ns_per_call"]))
                check = att.finish(expected)
            finally:
                att.close()
            if "agent_cpu_seconds" in check:
                agent_cpu[config].append(check["agent_cpu_seconds"])
            verification.append({"round": rnd + 1, "config": config, **check})
            if not check["ok"]:
                log(f"round {rnd + 1} `{config}`: verification FAILED: {check['detail']}")
            progress.append(f"{config} {time.monotonic() - t0:.0f}s")
        log(f"overhead round {rnd + 1}/{opt.rounds} done ({', '.join(progress)})")

    units = {w: ("bogo-ops per CPU-second", True) for w in workloads}
    units["perf bench sched pipe"] = ("CPU µs per round trip", False)
    units["file reads (unrelated)"] = ("CPU ns per read", False)
    result = {"configs": configs, "config_doc": {c: CONFIG_DOC[c] for c in configs}, "workloads": {}}
    for w in workloads:
        unit, higher_better = units[w]
        base = dict(samples[w].get("none", []))
        per = {}
        for c in configs:
            vals = samples[w][c]
            if not vals:
                continue
            # cost: CPU time added per operation against no tracing, from same-round pairs
            # (ops per CPU-second: none/x - 1; CPU time per op: x/none - 1), in percent.
            costs = []
            for rnd, v in vals:
                if rnd in base and base[rnd] > 0 and v > 0:
                    costs.append((base[rnd] / v - 1) * 100 if higher_better else (v / base[rnd] - 1) * 100)
            per[c] = {"samples": [v for _, v in vals], "median": median([v for _, v in vals]),
                      "min": min(v for _, v in vals), "max": max(v for _, v in vals),
                      "cost_percent": None if c == "none" else median(costs)}
        result["workloads"][w] = {"unit": unit, "higher_is_better": higher_better, "configs": per}
    result["verification"] = {"passed": all(v["ok"] for v in verification),
                              "samples_checked": sum(1 for v in verification if v["checked"]), "samples": verification}
    result["agent_cpu_seconds_per_sample"] = {c: v for c, v in agent_cpu.items() if v}
    return result


# ---- section: the agent itself -------------------------------------------------------------------


def agent_section(ctx):
    opt = ctx.opt
    agent = Agent(ctx.ipctrace, ctx.tmp)
    rows = []
    try:
        def window(label, rate, kind, argv, seconds=opt.rate_seconds):
            msgs0, lost0, _ = agent.counters()
            cpu0, t0 = agent.cpu_seconds(), time.monotonic()
            r = run(argv, timeout=seconds + 60) if argv else None
            if argv is None:
                time.sleep(seconds)
            if r is not None and r.returncode != 0:
                raise BenchError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
            cpu1, t1 = agent.cpu_seconds(), time.monotonic()
            msgs, lost, _ = agent.wait_collection()
            out = json.loads(r.stdout) if r is not None else {}
            row = {"load": label, "target_rate": rate, "kind": kind,
                   "achieved_rate": out.get("rate", out.get("events_per_second", 0.0)),
                   "agent_cpu_percent": (cpu1 - cpu0) / (t1 - t0) * 100,
                   "agent_rss_mib": proc_status_kib(agent.proc.pid, "VmRSS") / 1024,
                   "agent_peak_rss_mib": proc_status_kib(agent.proc.pid, "VmHWM") / 1024,
                   "records_lost": int(lost - lost0)}
            if kind == "pipe":
                counted = int(msgs.get("pipe", 0) - msgs0.get("pipe", 0))
                row["counted_messages"] = counted
                row["verified"] = counted >= out["messages"]
            rows.append(row)
            log(f"agent at {label}: {row['achieved_rate']:.0f}/s, CPU {row['agent_cpu_percent']:.2f}%, "
                f"peak RSS {row['agent_peak_rss_mib']:.1f} MiB, lost {row['records_lost']}")
            return row

        window("idle", 0, None, None)
        for rate in opt.rates:
            window(f"{rate:,} msgs/s", rate, "pipe",
                   [ctx.helper, "pipe-rate", "--rate", str(rate), "--seconds", str(opt.rate_seconds)])
        window("max msgs/s", 0, "pipe", [ctx.helper, "pipe-rate", "--rate", "0", "--seconds", str(opt.rate_seconds)])
        lifecycle = []
        for events in opt.event_rates:
            row = window(f"{events:,} lifecycle events/s", events, "lifecycle",
                         [ctx.helper, "lifecycle-rate", "--rate", str(events / 2), "--seconds",
                          str(opt.event_seconds)], opt.event_seconds)
            lifecycle.append(row)
            if row["records_lost"] > 0:
                break
        # Last: the neighbour's channels fill the agent's tables, which it keeps until they are
        # released or idle, and would weigh on every row after it.
        rows.append(noisy_neighbour(ctx, agent, opt.noisy_seconds))
    finally:
        agent.close()
    memory = memory_per_cpus(ctx)
    data = [r for r in rows if r["kind"] == "pipe"]
    clean_life = [r for r in rows if r["kind"] == "lifecycle" and r["records_lost"] == 0]
    lossy_life = [r for r in rows if r["kind"] == "lifecycle" and r["records_lost"] > 0]
    return {
        "rows": rows,
        "memory": memory,
        "verification": {"passed": all(r.get("verified", True) for r in rows),
                         "detail": "every paced pipe message counted by the agent"},
        "zero_loss": {
            "data_ops_per_second": max((r["achieved_rate"] for r in data if r["records_lost"] == 0), default=None),
            "data_ops_note": "data operations are aggregated in the kernel (no record per operation): the highest "
                             "rate this machine produced, with nothing lost",
            "lifecycle_events_per_second": max((r["achieved_rate"] for r in clean_life), default=None),
            "lifecycle_first_lossy_rate": lossy_life[0]["achieved_rate"] if lossy_life else None,
        },
    }


def noisy_neighbour(ctx, agent, seconds):
    """A quiet container's exactness and the agent's cost while a neighbour churns channels as fast as
    this machine allows (single-use pipes and `stress-ng --sockpair 2` in one cgroup): the quiet one's
    20 pipe messages and 20 SysV queue messages must be in /metrics, exact and named, within two
    collections (counted by ipctrace_collections_total, not by the clock) while the churn goes on."""
    noisy = quiet = None
    procs = []
    try:
        noisy, quiet = Cgroup("noisy"), Cgroup("quiet")
        msgs0, lost0, _ = agent.counters()
        cpu0, t0 = agent.cpu_seconds(), time.monotonic()
        workdir = tempfile.mkdtemp(dir=ctx.tmp)
        procs.append(Proc(["stress-ng", "--sockpair", "2", "--timeout", f"{seconds}s", "--temp-path", workdir],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cgroup=noisy))
        churn = Proc([ctx.helper, "pipe-churn", "--seconds", str(seconds)], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, cgroup=noisy)
        procs.append(churn)
        time.sleep(seconds / 3)
        q = run([ctx.helper, "quiet", "--messages", "20"], timeout=60, cgroup=quiet)
        if q.returncode != 0:
            raise BenchError(f"the quiet container's workload: exit {q.returncode}: {q.stderr.strip()}")
        _, _, after = agent.counters()
        quiet_counts = {}
        cycles = after
        deadline = time.monotonic() + 10 * agent.interval + 10
        while cycles < after + 2:  # the collection under way, and the next
            if time.monotonic() > deadline:
                raise BenchError("the agent completed no two collections beside the noisy neighbour in time")
            time.sleep(0.1)
            series, _, _ = agent.metrics()
            cycles = next((v for n, _, v in series if n == "ipctrace_collections_total"), cycles)
        for name, labels, value in series:
            if (name == "ipctrace_ipc_messages_total" and labels.get("src_container") == quiet.label and
                    labels.get("dst_container") == quiet.label):
                quiet_counts[labels["kind"]] = quiet_counts.get(labels["kind"], 0) + value
        still_churning = churn.p.poll() is None
        out, err = churn.p.communicate(timeout=seconds + 60)
        if churn.p.returncode != 0:
            raise BenchError(f"pipe-churn: exit {churn.p.returncode}: {err.strip()}")
        stress_rc = procs[0].p.wait(timeout=seconds + 60)
        if stress_rc != 0:
            raise BenchError(f"stress-ng --sockpair: exit {stress_rc}: {procs[0].p.stderr.read().strip()[-300:]}")
        cpu1, t1 = agent.cpu_seconds(), time.monotonic()
        msgs, lost, _ = agent.wait_collection()
        exact = quiet_counts.get("pipe") == 20 and quiet_counts.get("sysv_msg") == 20
        churned = json.loads(out)
        row = {"load": f"noisy neighbour: {churned['rate']:,.0f} single-use pipes/s + stress-ng --sockpair 2; "
                       f"the quiet container's 20 + 20 {'exact' if exact else '**not exact**'} within 2 collections",
               "target_rate": 0, "kind": "noisy", "achieved_rate": churned["rate"],
               "agent_cpu_percent": (cpu1 - cpu0) / (t1 - t0) * 100,
               "agent_rss_mib": proc_status_kib(agent.proc.pid, "VmRSS") / 1024,
               "agent_peak_rss_mib": proc_status_kib(agent.proc.pid, "VmHWM") / 1024,
               "records_lost": int(lost - lost0), "quiet_counts": quiet_counts,
               "neighbour_messages": int(sum(msgs.values()) - sum(msgs0.values())),
               "neighbour_still_churning": still_churning, "verified": exact}
        if not still_churning:
            log("noisy neighbour: the churn ended before the quiet container was checked (a faster machine "
                "than the row's seconds allow for): the figures hold, the fairness was not under full load")
        log(f"agent beside a noisy neighbour: {churned['rate']:.0f} pipes/s, CPU {row['agent_cpu_percent']:.2f}%, "
            f"quiet container {quiet_counts}")
        return row
    finally:
        for p in procs:
            p.close(signal.SIGKILL)
        for cg in (noisy, quiet):
            if cg is not None:
                cg.remove()


def memory_per_cpus(ctx):
    """The agent's kernel maps, its read buffer and its RSS estimated, at the defaults per number of
    possible CPUs, as it would size them there (`ipctrace probe --possible-cpus N --output json`; nothing loaded), this node's own first."""
    out = []
    here = os.sysconf("SC_NPROCESSORS_CONF")
    for cpus in [None] + [c for c in MEMORY_CPUS if c != here]:
        argv = [ctx.ipctrace, "probe", "--output", "json"] + ([] if cpus is None else ["--possible-cpus", str(cpus)])
        r = run(argv, timeout=120)
        try:
            m = json.loads(r.stdout)["memory"]
            out.append({"possible_cpus": m["possible_cpus"], "this_node": m["this_node"],
                        "cpu_table_entries": m["cpu_table_entries"], "kernel_map_bytes": m["kernel_map_bytes"],
                        "read_buffer_bytes": m["read_buffer_bytes"], "agent_rss_bytes": m["agent_rss_bytes"]})
        except (ValueError, KeyError) as e:
            raise BenchError(f"{' '.join(argv)}: exit {r.returncode}, no memory figure ({e}): "
                             f"{r.stderr.strip()[-300:]}")
    log("memory: kernel maps " + ", ".join(f"{m['possible_cpus']} CPUs {m['kernel_map_bytes'] / 2**20:.1f} MiB"
                                           for m in out))
    return out


# ---- section: scale ------------------------------------------------------------------------------


def scale_section(ctx):
    opt = ctx.opt
    cases = []
    for containers, channels, max_series in opt.scale_cases:
        label = f"{containers:,} containers" + (f" × {channels} channels" if channels > 1 else "") + (
            f", cap {max_series}" if max_series else "")
        log(f"scale: {label}")
        wait_no_programs(10)
        flows = Proc([ctx.helper, "flows", "--containers", str(containers), "--channels", str(channels)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        agent = None
        try:
            ready = json.loads(wait_line(flows, "ready", 300, "the flows workload"))
            extra = ["--max-series", str(max_series)] if max_series else []
            agent = Agent(ctx.ipctrace, ctx.tmp, extra)
            # Let every flow be seen and named, then measure steady state.
            agent.wait_collection()
            agent.wait_collection()
            # The agent's CPU with nobody scraping it: collection only.
            cpu0, t0 = agent.cpu_seconds(), time.monotonic()
            time.sleep(opt.scale_quiet_seconds)
            cpu_pct = (agent.cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100
            cycles, seen = [], None
            while len(cycles) < opt.scale_cycles:
                metrics, _, _ = agent.metrics()
                vals = {n: v for n, _, v in metrics if n in ("ipctrace_collections_total",
                                                               "ipctrace_collection_duration_seconds")}
                if vals["ipctrace_collections_total"] != seen:
                    if seen is not None:
                        cycles.append(vals["ipctrace_collection_duration_seconds"])
                    seen = vals["ipctrace_collections_total"]
                time.sleep(0.2)
            scrapes, size, series, dropped, tracked = [], 0, 0, 0, 0
            for _ in range(opt.scrapes):
                metrics, took, size = agent.metrics()
                scrapes.append(took)
            series = sum(1 for n, _, _ in metrics if n == "ipctrace_ipc_messages_total")
            dropped = sum(v for n, _, v in metrics if n == "ipctrace_series_dropped_total")
            tracked = sum(v for n, _, v in metrics if n == "ipctrace_flows_tracked")
            body, flows_took = http_get(agent.base + "/api/v1/flows")
            n_flows = len(json.loads(body)["flows"])
            # Every container's flow to its peer must be there (or folded by the cap).
            pid_prefix = f"ipctrace-bench-{flows.pid}-"
            named = {f["src"].get("cgroup_path", "") for f in json.loads(body)["flows"]}
            seen_containers = sum(1 for p in named if pid_prefix in p)
            case = {"label": label, "containers": containers, "channels": channels, "max_series": max_series,
                    "processes": ready["processes"], "flows": n_flows, "flows_tracked": int(tracked),
                    "series": series, "series_dropped": int(dropped),
                    "collection_ms_median": median(cycles) * 1000, "collection_ms_max": max(cycles) * 1000,
                    "scrape_ms_median": median(scrapes) * 1000, "scrape_ms_max": max(scrapes) * 1000,
                    "scrape_bytes": size, "flows_api_ms": flows_took * 1000, "agent_cpu_percent": cpu_pct,
                    "agent_peak_rss_mib": proc_status_kib(agent.proc.pid, "VmHWM") / 1024,
                    "containers_seen": seen_containers, "verified": seen_containers == containers}
            cases.append(case)
            log(f"  {n_flows} flows, {series} series, collection {case['collection_ms_median']:.2f} ms, "
                f"scrape {case['scrape_ms_median']:.2f} ms, CPU {cpu_pct:.2f}%, "
                f"RSS {case['agent_peak_rss_mib']:.1f} MiB, {seen_containers}/{containers} containers seen")
        finally:
            if agent is not None:
                agent.close()
            flows.close(signal.SIGTERM, grace=60)
    return {"cases": cases,
            "verification": {"passed": all(c["verified"] for c in cases),
                             "detail": "every container appears as a flow source in /api/v1/flows"}}


# ---- report --------------------------------------------------------------------------------------


def fmt_num(v, digits=1):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_pct(v):
    return "—" if v is None else f"{v:+.1f}%"


def goals(res):
    out = []
    ov = res.get("overhead")
    if ov:
        pipe = ov["workloads"]["stress-ng pipe"]["configs"]
        for cfg in ("ipctrace", "ipctrace-nowait"):
            if cfg in pipe and "bpftrace" in pipe and pipe[cfg]["cost_percent"] is not None:
                ratio = pipe[cfg]["cost_percent"] / pipe["bpftrace"]["cost_percent"] if pipe["bpftrace"][
                    "cost_percent"] > 0 else None
                out.append({"goal": f"{cfg}: cost on the pipe stressor ≤ {GOAL_PIPE_RATIO} × bpftrace's",
                            "value": ratio, "met": ratio is not None and ratio <= GOAL_PIPE_RATIO,
                            "shown": "n/a" if ratio is None else f"{ratio:.2f} × ({pipe[cfg]['cost_percent']:.1f}% vs "
                                     f"{pipe['bpftrace']['cost_percent']:.1f}%)"})
        fr = ov["workloads"]["file reads (unrelated)"]["configs"]
        for cfg, floor in (("ipctrace", "floor"), ("ipctrace-nowait", "floor-nowait")):
            if cfg in fr and floor in fr:
                diff = fr[cfg]["cost_percent"] - fr[floor]["cost_percent"]
                out.append({"goal": f"{cfg}: cost on the unrelated workload within {GOAL_UNRELATED_PP} pp of "
                                    f"`{floor}`",
                            "value": diff, "met": diff <= GOAL_UNRELATED_PP,
                            "shown": f"{diff:+.1f} pp ({fr[cfg]['cost_percent']:.1f}% vs "
                                     f"{fr[floor]['cost_percent']:.1f}%)"})
    ag = res.get("agent")
    if ag:
        row = next((r for r in ag["rows"] if r["kind"] == "pipe" and r["target_rate"] == 10000), None)
        if row:
            out.append({"goal": f"agent CPU < {GOAL_AGENT_CPU}% of one core at 10,000 msgs/s",
                        "value": row["agent_cpu_percent"], "met": row["agent_cpu_percent"] < GOAL_AGENT_CPU,
                        "shown": f"{row['agent_cpu_percent']:.2f}%"})
            out.append({"goal": f"agent peak RSS < {GOAL_AGENT_RSS_MIB:.0f} MiB at 10,000 msgs/s",
                        "value": row["agent_peak_rss_mib"], "met": row["agent_peak_rss_mib"] < GOAL_AGENT_RSS_MIB,
                        "shown": f"{row['agent_peak_rss_mib']:.1f} MiB"})
        big = max(ag.get("memory", []), key=lambda m: m["possible_cpus"], default=None)
        if big:
            mib = big["kernel_map_bytes"] / 2**20
            out.append({"goal": f"kernel maps ≤ {GOAL_KERNEL_MAP_MIB:.0f} MiB at the defaults on "
                                f"{big['possible_cpus']} possible CPUs (planned)",
                        "value": mib, "met": mib <= GOAL_KERNEL_MAP_MIB, "shown": f"{mib:.1f} MiB"})
    return out


def markdown(res):
    m = res["meta"]
    lines = [f"Measured {m['date']} on {m['machine']} ({m['cpus']} CPUs, {m['cpu_model']}), Linux {m['kernel']}; "
             f"{m['stress_ng']}, {m['bpftrace'] or 'bpftrace not installed'}, {m['perf']}. "
             f"Load average before {m['loadavg_before']}, after {m['loadavg_after']}. "
             f"Command: `{m['command']}` ({m['wall_seconds'] / 60:.1f} min).", ""]
    g = res["goals"]
    if g:
        lines += ["| goal | measured | met |", "|---|---:|---|"]
        lines += [f"| {x['goal']} | {x['shown']} | {'yes' if x['met'] else '**no**'} |" for x in g]
        lines.append("")
    ov = res.get("overhead")
    if ov:
        cfgs = ov["configs"]
        lines += [f"### Overhead: {res['meta']['rounds']} rounds, configurations alternating",
                  "",
                  f"Workloads pinned to CPU {res['meta']['workload_cpu']} and measured in CPU time (user + system "
                  "of the workload's processes, BPF programs included; not time others took the CPU away). "
                  "Median per configuration; in brackets the cost against no tracer (median of same-round "
                  "ratios: CPU time added per operation), in percent.", "",
                  "| workload | unit | " + " | ".join(cfgs) + " |",
                  "|---|---|" + "---:|" * len(cfgs)]
        for w, d in ov["workloads"].items():
            cells = []
            for c in cfgs:
                x = d["configs"].get(c)
                if x is None:
                    cells.append("—")
                elif c == "none":
                    cells.append(fmt_num(x["median"]))
                else:
                    cells.append(f"{fmt_num(x['median'])} ({fmt_pct(x['cost_percent'])})")
            lines.append(f"| {w} | {d['unit']} | " + " | ".join(cells) + " |")
        v = ov["verification"]
        lost = [x for x in v["samples"] if x.get("records_lost")]
        lines += ["", f"Verification: {'passed' if v['passed'] else '**FAILED**'} "
                      f"({v['samples_checked']} samples checked: the agent counted at least {TOLERANCE:.0%} of every "
                      "stressor's bogo-ops as messages of its kind, perf bench's two writes per round trip as pipe "
                      "messages; bpftrace's @send_msgs covered them all)."]
        if lost:
            lines.append(f"Records the agent lost and reported (ipctrace_records_lost_total), in "
                         f"{len(lost)} of {v['samples_checked']} checked samples, median "
                         f"{median([x['records_lost'] for x in lost]):,.0f}: stress-ng sockpair makes over 100,000 "
                         "socket pairs a second, each a new channel, and fills the agent's flow map (65,536 entries, "
                         "kept until --idle-timeout); it runs last so that nothing else is lost.")
        lines.append("")
        lines += [f"- `{c}`: {ov['config_doc'][c]}" for c in cfgs]
        lines.append("")
    ag = res.get("agent")
    if ag:
        lines += ["### The agent itself", "",
                  "| load | achieved rate | agent CPU (% of one core) | RSS MiB | peak RSS MiB | records lost |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in ag["rows"]:
            lines.append(f"| {r['load']} | {fmt_num(r['achieved_rate'], 0)}/s | {r['agent_cpu_percent']:.2f} | "
                         f"{r['agent_rss_mib']:.1f} | {r['agent_peak_rss_mib']:.1f} | {r['records_lost']} |")
        if ag.get("memory"):
            lines += ["", "Kernel maps at the defaults per number of possible CPUs, as the agent sizes them there "
                          "(`ipctrace probe --possible-cpus N`; the first row is this node's own):", "",
                      "| possible CPUs | flow table entries per CPU | kernel maps MiB | agent's read buffer MiB | "
                      "agent RSS MiB, estimated |",
                      "|---:|---:|---:|---:|---:|"]
            for m in ag["memory"]:
                lines.append(f"| {m['possible_cpus']}{' (this node)' if m['this_node'] else ''} | "
                             f"{m['cpu_table_entries']:,} | {m['kernel_map_bytes'] / 2**20:.1f} | "
                             f"{m['read_buffer_bytes'] / 2**20:.1f} | {m['agent_rss_bytes'] / 2**20:.1f} |")
        z = ag["zero_loss"]
        lines += ["", f"Zero loss: data operations up to {fmt_num(z['data_ops_per_second'], 0)} msgs/s (the most "
                      "this machine produced; they are aggregated in the kernel, no record per operation); "
                      f"lifecycle events (ring buffer) up to {fmt_num(z['lifecycle_events_per_second'], 0)}/s"
                  + (f", losses from {fmt_num(z['lifecycle_first_lossy_rate'], 0)}/s." if z[
                      'lifecycle_first_lossy_rate'] else "."), ""]
    sc = res.get("scale")
    if sc:
        lines += ["### Scale", "",
                  "| case | flows | series | dropped by cap | collection ms (median / max) | scrape ms (median / max) "
                  "| scrape KiB | /api/v1/flows ms | agent CPU % | peak RSS MiB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in sc["cases"]:
            lines.append(f"| {c['label']} | {c['flows']:,} | {c['series']:,} | {c['series_dropped']:,} | "
                         f"{c['collection_ms_median']:.2f} / {c['collection_ms_max']:.2f} | "
                         f"{c['scrape_ms_median']:.2f} / {c['scrape_ms_max']:.2f} | {c['scrape_bytes'] / 1024:.0f} | "
                         f"{c['flows_api_ms']:.1f} | {c['agent_cpu_percent']:.2f} | {c['agent_peak_rss_mib']:.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_svg(res, path):
    """Four small panels against containers (log scale): collection, scrape, CPU, peak RSS."""
    cases = [c for c in res["scale"]["cases"] if not c["max_series"] and c["channels"] == 1]
    capped = [c for c in res["scale"]["cases"] if c["max_series"]]
    channels = [c for c in res["scale"]["cases"] if not c["max_series"] and c["channels"] > 1]
    panels = [("collection cycle (ms)", "collection_ms_median"), ("/metrics scrape (ms)", "scrape_ms_median"),
              ("agent CPU (% of one core)", "agent_cpu_percent"), ("agent peak RSS (MiB)", "agent_peak_rss_mib")]
    w, h, pw, ph = 960, 300, 190, 170
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           'font-size="11">', '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14">ipctrace agent cost against containers '
           f'({res["meta"]["date"][:10]}, Linux {res["meta"]["kernel"]})</text>']
    xs = sorted({c["containers"] for c in cases + capped + channels}) or [1]
    import math  # pylint: disable=import-outside-toplevel
    lo, hi = math.log10(min(xs)), math.log10(max(xs))
    span = (hi - lo) or 1
    for i, (title, key) in enumerate(panels):
        x0, y0 = 50 + i * (pw + 40), 50
        vals = [c[key] for c in cases + capped + channels]
        top = max(vals) * 1.15 if vals and max(vals) > 0 else 1

        def px(n, _x0=x0):
            return _x0 + 12 + (math.log10(n) - lo) / span * (pw - 24)

        def py(v, _y0=y0, _top=top):
            return _y0 + ph - v / _top * ph

        out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 10}" text-anchor="middle" font-weight="bold">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{y0 + ph}" x2="{x0 + pw}" y2="{y0 + ph}" stroke="black"/>')
        out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + ph}" stroke="black"/>')
        for frac in (0, 0.5, 1):
            v = top / 1.15 * frac
            out.append(f'<text x="{x0 - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
            out.append(f'<line x1="{x0}" y1="{py(v):.1f}" x2="{x0 + pw}" y2="{py(v):.1f}" stroke="#ddd"/>')
        for n in xs:
            out.append(f'<text x="{px(n):.1f}" y="{y0 + ph + 14}" text-anchor="middle">{n:,}</text>')
        pts = [(px(c["containers"]), py(c[key])) for c in cases]
        if len(pts) > 1:
            out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="' +
                       " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for (a, b), c in zip(pts, cases):
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="#1f77b4"/>')
            out.append(f'<text x="{a:.1f}" y="{b - 7:.1f}" text-anchor="middle" fill="#1f77b4">{c[key]:.3g}</text>')
        for c in capped:
            a, b = px(c["containers"]), py(c[key])
            out.append(f'<rect x="{a - 4:.1f}" y="{b - 4:.1f}" width="8" height="8" fill="#d62728"/>')
        for c in channels:
            a, b = px(c["containers"]), py(c[key])
            out.append(f'<polygon points="{a:.1f},{b - 6:.1f} {a + 6:.1f},{b:.1f} {a:.1f},{b + 6:.1f} {a - 6:.1f},{b:.1f}" '
                       'fill="#2ca02c"/>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 30}" text-anchor="middle">containers (log)</text>')
    out.append(f'<circle cx="60" cy="{h - 14}" r="4" fill="#1f77b4"/><text x="70" y="{h - 10}">one flow to its '
               'peer per container, default cap</text>')
    if capped:
        cap = capped[0]
        out.append(f'<rect x="330" y="{h - 18}" width="8" height="8" fill="#d62728"/><text x="344" y="{h - 10}">'
                   f'{cap["containers"]:,} at the cardinality cap (--max-series {cap["max_series"]})</text>')
    if channels:
        ch = channels[0]
        out.append(f'<polygon points="640,{h - 20} 646,{h - 14} 640,{h - 8} 634,{h - 14}" fill="#2ca02c"/>'
                   f'<text x="652" y="{h - 10}">{ch["containers"]:,} with {ch["channels"]} pipes each way '
                   f'({ch["flows_tracked"]:,} channel flows)</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


# ---- main ----------------------------------------------------------------------------------------


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return ""


def cpu_model():
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


class Context:
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--quick", action="store_true", help="a smoke run in about a minute (figures not meaningful)")
    p.add_argument("--out", help="directory for results.md, results.json, scale.svg (default BUILD_DIR/bench-results)")
    p.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"), help="release build directory")
    p.add_argument("--rounds", type=int, help="overhead rounds (default 5; --quick 1)")
    p.add_argument("--cpu", type=int, default=1, help="the CPU the overhead workloads are pinned to (default 1)")
    p.add_argument("--sections", default="overhead,agent,scale", help="comma-separated: overhead,agent,scale")
    p.add_argument("--configs", default=",".join(ALL_CONFIGS), help="overhead configurations, comma-separated")
    p.add_argument("--update-readme", action="store_true",
                   help="after a full run, put results.md into README.md's Performance section (between the "
                        "bench markers) and scale.svg into docs/bench-scale.svg")
    args = p.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    bad = [s for s in sections if s not in ("overhead", "agent", "scale")] or ([] if sections else ["(none)"])
    if bad:
        p.error(f"--sections: unknown section {', '.join(bad)} (overhead, agent, scale)")
    configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in configs if c not in ALL_CONFIGS]
    if bad or "none" not in configs:
        p.error(f"--configs: {', '.join(bad) or 'none is required'} (from {', '.join(ALL_CONFIGS)})")
    if args.cpu not in os.sched_getaffinity(0):
        p.error(f"--cpu {args.cpu}: not a CPU this process may use ({sorted(os.sched_getaffinity(0))})")
    if args.rounds is not None and not 1 <= args.rounds <= 100:
        p.error("--rounds: between 1 and 100")
    if args.update_readme and (args.quick or sections != ["overhead", "agent", "scale"] or args.rounds is not None
                               or args.configs != ",".join(ALL_CONFIGS)):
        p.error("--update-readme: only after a full run with the defaults (no --quick, --sections, --rounds, "
                "--configs)")
    args.sections, args.configs = sections, configs
    args.out = args.out or os.path.join(args.build_dir, "bench-results")
    q = args.quick
    args.rounds = args.rounds or (1 if q else 5)
    args.stress_seconds = 1 if q else 2
    args.perf_loops = 20_000 if q else 50_000
    args.file_calls = 200_000 if q else 2_000_000
    args.rates = [1_000, 10_000] if q else [1_000, 10_000, 100_000]
    args.rate_seconds = 2 if q else 10
    args.event_seconds = 1 if q else 3
    args.noisy_seconds = 6 if q else 10
    args.event_rates = [1_000, 100_000] if q else [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
    args.scale_cases = [(1, 1, 0), (100, 1, 0), (100, 1, 10)] if q else [
        (1, 1, 0), (100, 1, 0), (1000, 1, 0), (1000, 10, 0), (1000, 1, 100)]
    args.scale_cycles = 2 if q else 5
    args.scale_quiet_seconds = 2 if q else 5
    args.scrapes = 3 if q else 10
    return args


def main(argv):
    opt = parse_args(argv)
    if os.geteuid() != 0:
        log("must run as root (it loads BPF programs, runs the agent and bpftrace, makes cgroups)")
        return 1
    ctx = Context()
    ctx.opt = opt
    ctx.ipctrace = os.path.join(opt.build_dir, "ipctrace")
    ctx.helper = os.path.join(opt.build_dir, "bench", "ipctrace-bench-load")
    for path in (ctx.ipctrace, ctx.helper):
        if not os.access(path, os.X_OK):
            log(f"{path} is missing: build first (tools/build.sh release) or pass --build-dir")
            return 1
    missing = [t for t in ("stress-ng", "perf", "bpftool", "taskset") if shutil.which(t) is None]
    if "bpftrace" in opt.configs and shutil.which("bpftrace") is None:
        missing.append("bpftrace")
    if missing:
        log(f"missing tools: {', '.join(missing)} (tools/install-deps.sh installs them)")
        return 1
    ctx.perf, ctx.bpftrace = shutil.which("perf"), shutil.which("bpftrace")
    ctx.configs = opt.configs

    # A forgotten program skews every measurement: refuse unless nothing at all is loaded.
    progs = wait_no_programs(10)
    if progs:
        log("refusing to start: BPF programs are loaded that this benchmark did not load: "
            f"{', '.join(progs.values())}. They would run in every configuration and skew every figure; "
            "stop whatever loaded them (`bpftool prog show`) and run again")
        return 1

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    t_start = time.monotonic()
    ctx.tmp = tempfile.mkdtemp(prefix="ipctrace-bench-")
    res = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "machine": f"{platform.node()} {platform.machine()}",
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "loadavg_before": loadavg(),
        "stress_ng": first_line(["stress-ng", "--version"]), "perf": first_line(["perf", "--version"]),
        "bpftrace": first_line(["bpftrace", "--version"]) if ctx.bpftrace else None,
        "ipctrace": first_line([ctx.ipctrace, "version"]),
        "command": " ".join(["bench/run.sh"] + list(argv)), "quick": opt.quick, "rounds": opt.rounds,
        "workload_cpu": opt.cpu,
        "sections": opt.sections}}
    try:
        if "overhead" in opt.sections:
            log(f"overhead: {opt.rounds} round(s) of {', '.join(opt.configs)}")
            res["overhead"] = overhead_section(ctx)
        if "agent" in opt.sections:
            log("agent: CPU and memory at paced rates")
            res["agent"] = agent_section(ctx)
        if "scale" in opt.sections:
            log("scale: collection and scrape time against containers")
            res["scale"] = scale_section(ctx)
    except Interrupted as e:
        Proc.close_all()
        log(f"interrupted by {e}; everything started was stopped")
        return 128 + e.sig
    except BenchError as e:
        Proc.close_all()
        log(f"error: {e}")
        return 1
    finally:
        Proc.close_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    left = wait_no_programs(10)
    if left:
        log(f"warning: BPF programs still loaded after the run: {', '.join(left.values())}")
    res["meta"]["loadavg_after"] = loadavg()
    res["meta"]["wall_seconds"] = time.monotonic() - t_start
    res["goals"] = goals(res)
    res["verification_passed"] = all(res[s]["verification"]["passed"] for s in opt.sections)
    os.makedirs(opt.out, exist_ok=True)
    with open(os.path.join(opt.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    md = markdown(res)
    with open(os.path.join(opt.out, "results.md"), "w", encoding="utf-8") as f:
        f.write(md)
    if "scale" in opt.sections:
        write_svg(res, os.path.join(opt.out, "scale.svg"))
    sys.stdout.write(md)
    log(f"results in {opt.out}/ (results.md, results.json{', scale.svg' if 'scale' in opt.sections else ''}), "
        f"{res['meta']['wall_seconds'] / 60:.1f} min")
    if not res["verification_passed"]:
        log("verification FAILED: some program did not do its work (see results.json)")
        return 1
    if opt.update_readme:
        try:
            update_readme(md, os.path.join(opt.out, "scale.svg"))
        except (BenchError, OSError) as e:
            log(f"error: {e}")
            return 1
    return 0


README_BEGIN = "<!-- bench/run.sh results: begin -->"
README_END = "<!-- bench/run.sh results: end -->"


def update_readme(md, svg):
    path = os.path.join(REPO, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    a, b = text.find(README_BEGIN), text.find(README_END)
    if a < 0 or b < a:
        raise BenchError(f"{path}: the markers {README_BEGIN} ... {README_END} are missing")
    text = text[:a + len(README_BEGIN)] + "\n" + md.rstrip("\n") + "\n" + text[b:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.makedirs(os.path.join(REPO, "docs"), exist_ok=True)
    shutil.copyfile(svg, os.path.join(REPO, "docs", "bench-scale.svg"))
    log(f"updated {path} and docs/bench-scale.svg")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Interrupted as exc:
        Proc.close_all()
        log(f"interrupted by {exc}")
        sys.exit(128 + exc.sig)
