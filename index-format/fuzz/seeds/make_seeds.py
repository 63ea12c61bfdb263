#!/usr/bin/env python3
"""Writes the fuzzing seeds in crates/ with plain byte handling (no tar library), so the
Rust validator is checked against a second, independent tar writer.

Run from this directory: python3 make_seeds.py
"""
import gzip
import struct

MANIFEST = b'[package]\nname = "demo"\nversion = "1.0.0"\nedition = "2021"\n'
GNU_MAGIC = b'ustar  \x00'
USTAR_MAGIC = b'ustar\x0000'
END = b'\x00' * 1024


def header(name, typeflag, size, magic=GNU_MAGIC):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b'0000644\x00'
    h[108:116] = b'0000000\x00'
    h[116:124] = b'0000000\x00'
    h[124:136] = ('%011o' % size).encode() + b'\x00'
    h[136:148] = b'00000000000\x00'
    h[156:157] = typeflag
    h[257:265] = magic
    h[148:156] = b' ' * 8
    h[148:156] = ('%06o' % sum(h)).encode() + b'\x00 '
    return bytes(h)


def entry(name, typeflag, data, magic=GNU_MAGIC):
    return header(name, typeflag, len(data), magic) + data + b'\x00' * ((-len(data)) % 512)


def pax(records):
    body = b''
    for key, value in records:
        rest = b' ' + key + b'=' + value + b'\n'
        length = len(rest) + 1
        while len(str(length)) + len(rest) != length:
            length += 1
        body += str(length).encode() + rest
    return entry(b'PaxHeaders/entry', b'x', body, USTAR_MAGIC)


def crate_part(body_path):
    body = open(body_path, 'rb').read()
    json_len = struct.unpack('<I', body[:4])[0]
    return body[8 + json_len:]


def main():
    for name in ['wharf-demo-0.1.0', 'wharf-rich-0.2.0+build.7']:
        with open(f'crates/{name}.crate', 'wb') as out:
            out.write(crate_part(f'bodies/{name}.body'))
    base = entry(b'demo-1.0.0/Cargo.toml', b'0', MANIFEST)
    seeds = {
        'good': base + entry(b'demo-1.0.0/src/lib.rs', b'0', b'pub fn f() {}\n'),
        'symlink-cargo-ok': base + entry(b'demo-1.0.0/.cargo-ok', b'2', b''),
        'pax-size-desync': base + pax([(b'size', b'1024')])
        + entry(b'demo-1.0.0/src/lib.rs', b'0', b'', USTAR_MAGIC)
        + entry(b'demo-1.0.0/build.rs', b'0', b''),
        'gnu-long-name-mismatch': base + entry(b'././@LongLink', b'L', b'demo-1.0.0/src/lib.rs\x00')
        + entry(b'demo-1.0.0/build.rs', b'0', b''),
        'parent-dir': base + entry(b'demo-1.0.0/../../.bashrc', b'0', b'x'),
        'case-collision': base + entry(b'demo-1.0.0/src/lib.rs', b'0', b'')
        + entry(b'demo-1.0.0/src/Lib.rs', b'0', b''),
        'bomb': base + entry(b'demo-1.0.0/zeros', b'0', b'\x00' * (40 << 20)),
    }
    for name, tar in seeds.items():
        with open(f'crates/{name}.crate', 'wb') as out:
            out.write(gzip.compress(tar + END, mtime=0))


if __name__ == '__main__':
    main()
