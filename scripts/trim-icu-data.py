#!/usr/bin/env python3
"""Writes the ICU data that authdoctor links instead of the toolchain's full copy.

The static Swift runtime links all of ICU's data (icudt76_dat, 34 MB: every locale's collation,
currency, unit, language and region names, 200 legacy charset converters, transliterators).
authdoctor formats dates in en_US_POSIX and runs regular expressions; it never collates by locale,
converts legacy charsets or spells out locale, currency or unit names. This keeps ICU's package
format and drops those trees (keeping the root collator and English currency names), so ICU falls
back to root (or reports a missing resource) for anything dropped, as it does for a locale it has no
data for. Tests/CLITests/ICUDataTests.swift links ICU with the result and checks what authdoctor
needs from it (dates, time zones, collation, regular expressions).

Usage: scripts/trim-icu-data.py [--drop TREE]... [ARCHIVE] OUTPUT
ARCHIVE defaults to the toolchain's lib_FoundationICU.a (swift_static), whose member
icu_packaged_data.cpp.o holds the symbol icudt76_dat. --drop also drops a kept tree (zone, curr,
brkitr): the tests use it to show that their checks notice missing data.
"""
import json, os, struct, subprocess, sys

SYMBOL = "icudt76_dat"
MEMBER = "icu_packaged_data.cpp.o"


def toolchain_archive():
    """The static ICU of the toolchain `swiftc` belongs to (also under swiftly, whose `swift` on PATH
    is a proxy): its runtime resource path is .../usr/lib/swift, the static libraries sit beside it."""
    swiftc = os.environ.get("SWIFTC", "swiftc")
    try:
        info = json.loads(subprocess.run([swiftc, "-print-target-info"], capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError) as error:
        sys.exit(f"trim-icu-data: cannot ask {swiftc} for its toolchain ({error}); give the archive path")
    resources = info["paths"]["runtimeResourcePath"]
    archive = os.path.join(os.path.dirname(resources), "swift_static", "linux", "lib_FoundationICU.a")
    if not os.path.isfile(archive):
        sys.exit(f"trim-icu-data: no {archive} (a toolchain without static libraries?); give the archive path")
    return archive


def archive_member(archive, wanted):
    """One member of a System V / GNU `ar` archive, read without binutils."""
    data = open(archive, "rb").read()
    if not data.startswith(b"!<arch>\n"):
        sys.exit(f"trim-icu-data: {archive} is not an ar archive")
    offset, long_names = 8, b""
    while offset + 60 <= len(data):
        header = data[offset:offset + 60]
        name, size = header[:16].decode().rstrip(), int(header[48:58].decode())
        body = data[offset + 60:offset + 60 + size]
        if name == "//":
            long_names = body
        elif name.startswith("/") and name[1:].isdigit():
            start = int(name[1:])
            name = long_names[start:long_names.index(b"/\n", start)].decode()
        else:
            name = name.rstrip("/")
        if name == wanted:
            return body
        offset += 60 + size + (size & 1)
    sys.exit(f"trim-icu-data: no member {wanted} in {archive}")


def symbol_bytes(archive):
    """The bytes of icudt76_dat, read from the archive member's ELF sections."""
    obj = archive_member(archive, MEMBER)
    # ELF64 little-endian: section headers, then the symbol table names the section and offset.
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        for k in range(sh[5] // sh[9]):
            name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", obj, sh[4] + k * sh[9])
            start = strtab[4] + name
            if obj[start:obj.index(b"\0", start)].decode() == SYMBOL:
                data_offset = sections[shndx][4] + value
                return obj[data_offset:data_offset + size]
    sys.exit(f"trim-icu-data: no symbol {SYMBOL} in {archive}({MEMBER})")


def items(data):
    """ICU common data: a header, then a table of (name offset, data offset) from the table's start."""
    header_size, = struct.unpack_from("<H", data, 0)
    if data[2:4] != b"\xda\x27":
        sys.exit("trim-icu-data: not ICU common data")
    if data[12:16] != b"CmnD":
        sys.exit("trim-icu-data: not an ICU package (CmnD)")
    if header_size % 16:
        sys.exit("trim-icu-data: the header is not 16-byte aligned; items would be misaligned")
    count, = struct.unpack_from("<I", data, header_size)
    entries = [struct.unpack_from("<II", data, header_size + 4 + 8 * i) for i in range(count)]
    result = []
    for i, (name_offset, data_offset) in enumerate(entries):
        start = header_size + name_offset
        name = data[start:data.index(b"\0", start)].decode()
        end = entries[i + 1][1] if i + 1 < count else len(data) - header_size
        result.append((name, data[header_size + data_offset:header_size + end]))
    return header_size, result


DROPPED = set()


def root_or_english(item, *shared):
    """A tree's root bundle, its shared pieces and the English locales (en, en_US_POSIX, ...)."""
    return item in ("root.res", "pool.res", "res_index.res") + shared or item == "en.res" or item.startswith("en_")


def keep(name):
    parts = name.split("/")
    if len(parts) == 3 and parts[1] in DROPPED:
        return False
    if len(parts) == 2:
        # Locale bundles and core data stay; legacy charset converters and StringPrep profiles go.
        return not (parts[1].endswith(".cnv") or parts[1].endswith(".spp"))
    tree, item = parts[1], parts[2]
    if tree == "zone":
        # Time-zone names for root and English only (dates are written in en_US_POSIX).
        return root_or_english(item, "tzdbNames.res")
    if tree == "curr":
        # Number formatting (which date formatting sets up) reads the locale's currency symbols:
        # root and English; other locales fall back to root.
        return root_or_english(item, "supplementalData.res")
    if tree == "coll":
        # The root collator only (0.9 MB): a later localized comparison still works, in root order.
        return item in ("root.res", "ucadata.icu", "res_index.res")
    if tree == "brkitr":
        # Break rules stay; the CJK/Thai/Khmer/Lao/Burmese word dictionaries go: without them a run
        # of those scripts is one word. authdoctor does not break text into words.
        return not item.endswith(".dict")
    # lang, region, unit (names in every language), rbnf (spell-out), translit
    return False


def package(data):
    header_size, all_items = items(data)
    kept = [(name, body) for name, body in all_items if keep(name)]
    names = b"".join(name.encode() + b"\0" for name, _ in kept)
    table_size = 4 + 8 * len(kept)
    first_data = (table_size + len(names) + 15) // 16 * 16
    table = bytearray(struct.pack("<I", len(kept)))
    bodies = bytearray()
    name_offset = table_size
    for name, body in kept:
        table += struct.pack("<II", name_offset, first_data + len(bodies))
        name_offset += len(name.encode()) + 1
        bodies += body
        bodies += b"\0" * (-len(bodies) % 16)
    index = table + names
    index += b"\0" * (first_data - len(index))
    return bytes(data[:header_size]) + bytes(index) + bytes(bodies), len(all_items), len(kept)


def main():
    args = sys.argv[1:]
    while len(args) >= 2 and args[0] == "--drop":
        DROPPED.add(args[1])
        args = args[2:]
    if len(args) not in (1, 2) or args[0].startswith("-"):
        sys.exit("usage: scripts/trim-icu-data.py [--drop TREE]... [ARCHIVE] OUTPUT")
    archive, output = (args[0], args[1]) if len(args) == 2 else (toolchain_archive(), args[0])
    data = symbol_bytes(archive)
    trimmed, before, after = package(data)
    with open(output, "wb") as f:
        f.write(trimmed)
    print(f"trim-icu-data: {before} items, {len(data)} bytes -> {after} items, {len(trimmed)} bytes: {output}")


if __name__ == "__main__":
    main()
