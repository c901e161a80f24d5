#!/usr/bin/env python3
"""Checks a bench/run.py results.json for structure, not timings: every section present and
well-formed, every workload measured under every configuration, verification passed.
Usage: check_results.py RESULTS_JSON. Exit 0 when it holds, 1 with every problem listed."""

import json
import math
import sys

WORKLOADS = ["stress-ng pipe", "stress-ng fifo", "stress-ng msg", "stress-ng mq", "stress-ng sock",
             "stress-ng sockpair", "stress-ng udp", "perf bench sched pipe", "file reads (unrelated)"]
IPC_CONFIGS = ["none", "floor", "ipctrace", "ipctrace-nowait", "bpftrace"]
UNRELATED_CONFIGS = IPC_CONFIGS + ["floor-nowait"]


def positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def check(res):
    errs = []
    meta = res.get("meta", {})
    for k in ("date", "kernel", "machine", "cpu_model", "command", "rounds", "wall_seconds"):
        if k not in meta:
            errs.append(f"meta.{k} missing")
    for section in ("overhead", "agent", "scale"):
        if section not in res:
            errs.append(f"section {section} missing")
        elif res[section].get("verification", {}).get("passed") is not True:
            errs.append(f"{section}: verification did not pass")
    if res.get("verification_passed") is not True:
        errs.append("verification_passed is not true")
    ov = res.get("overhead", {})
    rounds = meta.get("rounds", 0)
    for w in WORKLOADS:
        configs = ov.get("workloads", {}).get(w, {}).get("configs", {})
        for c in (UNRELATED_CONFIGS if w.startswith("file") else IPC_CONFIGS):
            x = configs.get(c)
            if x is None:
                errs.append(f"overhead: {w} not measured under {c}")
                continue
            if len(x.get("samples", [])) != rounds or not all(positive(v) for v in x["samples"]):
                errs.append(f"overhead: {w} under {c}: {len(x.get('samples', []))} samples for {rounds} rounds")
            if c != "none" and not isinstance(x.get("cost_percent"), (int, float)):
                errs.append(f"overhead: {w} under {c}: no cost against none")
    checked = [v for v in ov.get("verification", {}).get("samples", []) if v.get("checked")]
    if len(checked) != 3 * rounds:  # ipctrace, ipctrace-nowait and bpftrace, every round
        errs.append(f"overhead: {len(checked)} samples verified, expected {3 * rounds}")
    ag = res.get("agent", {})
    loads = [r.get("kind") for r in ag.get("rows", [])]
    if loads.count("pipe") < 3 or "lifecycle" not in loads or None not in loads:
        errs.append(f"agent: rows for idle, paced pipe rates and lifecycle rates expected, got {loads}")
    for r in ag.get("rows", []):
        for k in ("agent_cpu_percent", "agent_rss_mib", "agent_peak_rss_mib", "records_lost"):
            if not isinstance(r.get(k), (int, float)):
                errs.append(f"agent: {r.get('load')}: {k} missing")
    noisy = [r for r in ag.get("rows", []) if r.get("kind") == "noisy"]
    if len(noisy) != 1 or noisy[0].get("verified") is not True:
        errs.append("agent: the noisy neighbour row missing or its quiet container not exact")
    mem = ag.get("memory", [])
    if len(mem) < 2 or not mem[0].get("this_node") or any(m.get("this_node") for m in mem[1:]):
        errs.append("agent: memory: this node's figure first, then the planned ones, expected")
    for m in mem:
        for k in ("possible_cpus", "cpu_table_entries", "kernel_map_bytes", "read_buffer_bytes", "agent_rss_bytes"):
            if not positive(m.get(k)):
                errs.append(f"agent: memory: {m.get('possible_cpus')} CPUs: {k} missing")
        if positive(m.get("kernel_map_bytes")) and m["kernel_map_bytes"] > 64 * 2**20:
            errs.append(f"agent: memory: {m.get('possible_cpus')} CPUs: kernel maps over the 64 MiB budget")
        if positive(m.get("agent_rss_bytes")) and m["agent_rss_bytes"] > 96 * 2**20:
            errs.append(f"agent: memory: {m.get('possible_cpus')} CPUs: agent RSS estimated over 96 MiB")
    if not positive(ag.get("zero_loss", {}).get("data_ops_per_second")):
        errs.append("agent: zero_loss.data_ops_per_second missing")
    cases = res.get("scale", {}).get("cases", [])
    if len(cases) < 2 or not any(c.get("max_series") for c in cases):
        errs.append("scale: expected several container counts and a case at the cardinality cap")
    for c in cases:
        for k in ("collection_ms_median", "scrape_ms_median", "scrape_bytes", "agent_peak_rss_mib"):
            if not positive(c.get(k)):
                errs.append(f"scale: {c.get('label')}: {k} missing")
        if c.get("max_series") and not c.get("series_dropped", 0) > 0:
            errs.append(f"scale: {c.get('label')}: at the cap but no series dropped")
    if not isinstance(res.get("goals"), list) or len(res["goals"]) != 7:
        errs.append(f"goals: expected 7 entries, got {len(res.get('goals', []))}")
    return errs


def main():
    if len(sys.argv) != 2:
        print("usage: check_results.py RESULTS_JSON", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            res = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"check_results: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    errs = check(res)
    for e in errs:
        print(f"check_results: {e}", file=sys.stderr)
    if not errs:
        print(f"check_results: {sys.argv[1]}: every section present and verified")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
