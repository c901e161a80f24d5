#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Compare the BPF programs of two objects (e.g. linked objects before and after a refactoring).

Usage: bpf/tools/compare-objects.py BEFORE.bpf.o AFTER.bpf.o

For every program (a FUNC symbol in an executable section) of either object it compares, by
name: the section, and every instruction byte for byte, except the immediates the loader fills
in, which depend on where things landed, not on the code:
  - an ELF relocation (a map, a global, a kfunc): its immediate is masked and the relocation's
    type and target are compared instead (a section symbol plus addend is resolved to the
    variable that covers it, e.g. .rodata+568 -> record_wait_of.zero);
  - a CO-RE relocation that yields a type id, size or existence (bpf_core_type_id_kernel()...):
    its immediate is the local BTF type id of one compilation unit, so it is masked and the
    relocation's kind and type name are compared instead.
Field-offset CO-RE relocations keep their immediates (offsets from vmlinux.h) and add their
type and access string to the comparison. Jump offsets are relative and compared as they are.

It then lists what differs in the maps (.maps: type, key and value size, entries, flags) and in
the data sections (.rodata...: variables with name, linkage, offset and size).

Prints one line per differing program and a summary; exits 1 if a program differs or is
missing on one side, 0 otherwise (map and data differences are listed, not fatal).
"""
import struct
import sys

SHT_SYMTAB, SHT_REL = 2, 9
SHF_EXECINSTR = 0x4
STT_OBJECT, STT_FUNC, STT_SECTION = 1, 2, 3
BPF_LD_IMM64 = 0x18
CORE_KINDS = [
    "field_byte_offset", "field_byte_size", "field_exists", "field_signed", "field_lshift_u64",
    "field_rshift_u64", "type_id_local", "type_id_target", "type_exists", "type_size",
    "enumval_exists", "enumval_value", "type_matches",
]
# Kinds whose immediate depends on the local BTF numbering or is computed by the loader.
CORE_MASKED = {6, 7, 8, 9, 12}
BTF_KINDS = {1: "int", 2: "ptr", 3: "array", 4: "struct", 5: "union", 6: "enum", 7: "fwd",
             8: "typedef", 9: "volatile", 10: "const", 11: "restrict", 12: "func",
             13: "func_proto", 14: "var", 15: "datasec", 16: "float", 17: "decl_tag",
             18: "type_tag", 19: "enum64"}


def cstr(blob, off):
    return blob[off:blob.index(b"\0", off)].decode()


class Btf:
    def __init__(self, data):
        magic, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data)
        assert magic == 0xEB9F, "not BTF"
        self.strs = data[hdr_len + str_off:hdr_len + str_off + str_len]
        self.types = [None]
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size_type = struct.unpack_from("<III", data, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            pos += 12
            extra = {1: 4, 3: 12, 4: 12 * vlen, 5: 12 * vlen, 6: 8 * vlen, 13: 8 * vlen, 14: 4,
                     15: 12 * vlen, 17: 4, 19: 12 * vlen}.get(kind, 0)
            self.types.append((kind, cstr(self.strs, name_off), size_type, data[pos:pos + extra],
                               vlen))
            pos += extra

    def name(self, tid):
        kind, name, _, _, _ = self.types[tid]
        return f"{BTF_KINDS.get(kind, kind)} {name or '(anon)'}"

    def size(self, tid):
        kind, _, size_type, extra, _ = self.types[tid]
        if kind in (1, 4, 5, 6, 15, 16, 19):
            return size_type
        if kind == 2:
            return 8
        if kind == 3:
            elem, _, nelems = struct.unpack_from("<III", extra)
            return nelems * self.size(elem)
        return self.size(size_type)  # typedef, qualifiers, var

    def members(self, tid):
        _, _, _, extra, vlen = self.types[tid]
        for i in range(vlen):
            name_off, mtype, _ = struct.unpack_from("<III", extra, 12 * i)
            yield cstr(self.strs, name_off), mtype

    def datasecs(self):
        for tid, t in enumerate(self.types):
            if t and t[0] == 15:
                yield t[1], [struct.unpack_from("<III", t[3], 12 * i) for i in range(t[4])]


class Obj:
    def __init__(self, path):
        self.data = data = open(path, "rb").read()
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
        shstr = data[hdrs[shstrndx][4]:hdrs[shstrndx][4] + hdrs[shstrndx][5]]
        self.secs = [dict(name=cstr(shstr, h[0]), type=h[1], flags=h[2], off=h[4], size=h[5],
                          link=h[6], info=h[7], entsize=h[9]) for h in hdrs]
        self.by_name = {s["name"]: i for i, s in enumerate(self.secs)}
        self.btf = Btf(self.section(".BTF"))
        self.syms = []
        for s in self.secs:
            if s["type"] == SHT_SYMTAB:
                strtab = self.section_at(s["link"])
                for i in range(s["size"] // 24):
                    name, info, other, shndx, value, size = struct.unpack_from(
                        "<IBBHQQ", data, s["off"] + 24 * i)
                    self.syms.append(dict(name=cstr(strtab, name), type=info & 0xF,
                                          shndx=shndx, value=value, size=size))
        self.relocs = {}  # (section index, byte offset) -> (reloc type, symbol index)
        for s in self.secs:
            if s["type"] == SHT_REL:
                for i in range(s["size"] // 16):
                    off, info = struct.unpack_from("<QQ", data, s["off"] + 16 * i)
                    self.relocs[(s["info"], off)] = (info & 0xFFFFFFFF, info >> 32)
        self.core = self._core_relos()

    def section_at(self, i):
        s = self.secs[i]
        return self.data[s["off"]:s["off"] + s["size"]]

    def section(self, name):
        return self.section_at(self.by_name[name])

    def _core_relos(self):
        out = {}  # (section name, byte offset) -> (kind, type id, access string)
        if ".BTF.ext" not in self.by_name:
            return out
        ext = self.section(".BTF.ext")
        _, _, _, hdr_len = struct.unpack_from("<HBBI", ext)
        if hdr_len < 32:
            return out
        core_off, core_len = struct.unpack_from("<II", ext, 24)
        pos, end = hdr_len + core_off, hdr_len + core_off + core_len
        rec_size, = struct.unpack_from("<I", ext, pos)
        pos += 4
        while pos < end:
            sec_off, num = struct.unpack_from("<II", ext, pos)
            pos += 8
            sec = cstr(self.btf.strs, sec_off)
            for _ in range(num):
                insn_off, tid, access_off, kind = struct.unpack_from("<IIII", ext, pos)
                out[(sec, insn_off)] = (kind, tid, cstr(self.btf.strs, access_off))
                pos += rec_size
        return out

    def reloc_target(self, sym_index, addend):
        sym = self.syms[sym_index]
        if sym["type"] != STT_SECTION:
            return sym["name"]
        for s in self.syms:  # a section symbol plus addend: the variable there
            if (s["shndx"] == sym["shndx"] and s["type"] == STT_OBJECT and
                    s["value"] <= addend < s["value"] + max(s["size"], 1)):
                return f"{s['name']}+{addend - s['value']}"
        return f"{self.secs[sym['shndx']]['name']}+{addend}"

    def programs(self):
        progs = {}
        for s in self.syms:
            if s["type"] == STT_FUNC and s["shndx"] < len(self.secs) and \
                    self.secs[s["shndx"]]["flags"] & SHF_EXECINSTR:
                progs[s["name"]] = s
        return progs

    def insns(self, sym):
        """The program's instructions, normalized: (bytes with masked immediates, notes)."""
        shndx, sec = sym["shndx"], self.secs[sym["shndx"]]
        out, pos, end = [], sym["value"], sym["value"] + sym["size"]
        while pos < end:
            width = 16 if self.data[sec["off"] + pos] == BPF_LD_IMM64 else 8
            raw = bytearray(self.data[sec["off"] + pos:sec["off"] + pos + width])
            notes = []
            if (shndx, pos) in self.relocs:
                rtype, symi = self.relocs[(shndx, pos)]
                addend = struct.unpack_from("<i", raw, 4)[0] & 0xFFFFFFFF
                notes.append(f"reloc {rtype} {self.reloc_target(symi, addend)}")
                raw[4:8] = bytes(4)
                if width == 16:
                    raw[12:16] = bytes(4)
            core = self.core.get((sec["name"], pos))
            if core:
                kind, tid, access = core
                notes.append(f"core {CORE_KINDS[kind]} {self.btf.name(tid)} {access}")
                if kind in CORE_MASKED:
                    raw[4:8] = bytes(4)
                    if width == 16:
                        raw[12:16] = bytes(4)
            out.append((bytes(raw).hex(), " ".join(notes)))
            pos += width
        return out

    def maps(self):
        out = {}
        for sec, vars_ in self.btf.datasecs():
            if sec != ".maps":
                continue
            for vtid, _, _ in vars_:
                _, name, mtid, _, _ = self.btf.types[vtid]
                desc = []
                for field, ftid in self.btf.members(mtid):
                    target = self.btf.types[ftid][2]  # PTR -> pointee
                    if field in ("key", "value"):
                        desc.append(f"{field}={self.btf.size(target)}")
                    else:  # __uint(field, n): a pointer to an int array of n elements
                        desc.append(f"{field}={struct.unpack_from('<III', self.btf.types[target][3])[2]}")
                out[name] = " ".join(desc)
        return out

    def data_vars(self):
        out = {}
        for sec, vars_ in self.btf.datasecs():
            if sec == ".maps" or sec.startswith(".ksyms") or sec == "license":
                continue
            size = self.secs[self.by_name[sec]]["size"] if sec in self.by_name else "?"
            vs = []
            for vtid, off, vsize in vars_:
                _, name, _, extra, _ = self.btf.types[vtid]
                linkage = {0: "static", 1: "global", 2: "extern"}.get(
                    struct.unpack_from("<I", extra)[0], "?")
                vs.append(f"{name} ({linkage}) @{off} {vsize}")
            out[sec] = (size, vs)
        return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    before, after = Obj(sys.argv[1]), Obj(sys.argv[2])
    pb, pa = before.programs(), after.programs()
    failed = 0
    for name in sorted(set(pb) | set(pa)):
        if name not in pa or name not in pb:
            print(f"{name}: only in {'before' if name in pb else 'after'}")
            failed += 1
            continue
        sb, sa = before.secs[pb[name]["shndx"]]["name"], after.secs[pa[name]["shndx"]]["name"]
        ib, ia = before.insns(pb[name]), after.insns(pa[name])
        if sb != sa:
            print(f"{name}: section {sb} before, {sa} after")
            failed += 1
        elif ib != ia:
            first = next((i for i, (x, y) in enumerate(zip(ib, ia)) if x != y), min(len(ib), len(ia)))
            print(f"{name} ({sb}): {len(ib)} instructions before, {len(ia)} after; "
                  f"first difference at instruction #{first}:")
            print(f"  before: {ib[first] if first < len(ib) else '(end)'}")
            print(f"  after:  {ia[first] if first < len(ia) else '(end)'}")
            failed += 1
    total = len(set(pb) | set(pa))
    insns = sum(len(after.insns(p)) for p in pa.values())
    if failed:
        print(f"{total} programs, {failed} differ")
    else:
        print(f"{total} programs ({insns} instructions), all identical "
              "(relocated and CO-RE type-id immediates masked, their targets compared)")

    mb, ma = before.maps(), after.maps()
    for name in sorted(set(mb) | set(ma)):
        if mb.get(name) != ma.get(name):
            print(f"map {name}: before [{mb.get(name)}], after [{ma.get(name)}]")
    print(f"{len(ma)} maps after, {len(mb)} before, "
          f"{'all the same' if mb == ma else 'see above'}")
    db, da = before.data_vars(), after.data_vars()
    for sec in sorted(set(db) | set(da)):
        if db.get(sec) != da.get(sec):
            print(f"data section {sec}: before {db.get(sec)}\n  after {da.get(sec)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
