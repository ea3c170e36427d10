"""Edits of HEIF/AVIF files at the box level, for the tests of what Debian's
encoders cannot make: a HEIC with irot/imir (heif-enc 1.15 writes none),
declared sizes over the limits, a grid whose payload asks for more than its
ispe says (a "grid bomb"). Only what the tests need: heif-enc's and avifenc's
layout (ftyp, meta with pitm/iloc/iinf/iprp/idat, mdat), iloc versions 0..2.
"""
import struct
from collections import namedtuple

Box = namedtuple("Box", "type start payload end")  # type as bytes; offsets in the file


def boxes(data, start=0, end=None):
    """The boxes in data[start:end], in order."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        payload = pos + 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            payload = pos + 16
        elif size == 0:
            size = end - pos
        assert size >= payload - pos and pos + size <= end, "bad box at %d" % pos
        out.append(Box(kind, pos, payload, pos + size))
        pos += size
    return out


def find(data, kind, parent=None):
    """The first child of `parent` (a Box; None = top level) of type `kind`.
    Full boxes (meta, iinf, iloc, ipma, ...) are entered past their 4-byte
    version and flags."""
    full = {b"meta", b"iinf", b"iloc", b"ipma", b"pitm", b"iref"}
    if parent is None:
        start, end = 0, len(data)
    else:
        start = parent.payload + (4 if parent.type in full else 0)
        end = parent.end
        if parent.type == b"iinf":
            start += 2 if data[parent.payload] == 0 else 4
    for b in boxes(data, start, end):
        if b.type == kind:
            return b
    raise KeyError(kind)


def box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def patch_ispe(data, width, height):
    """Every ispe property declares width x height (same length, in place)."""
    out = bytearray(data)
    ipco = find(data, b"ipco", find(data, b"iprp", find(data, b"meta")))
    for b in boxes(data, ipco.payload, ipco.end):
        if b.type == b"ispe":
            struct.pack_into(">II", out, b.payload + 4, width, height)
    return bytes(out)


def iloc_items(data):
    """{item_ID: (construction method, [(file or idat offset, length)])} of
    the iloc box, and a list of (position, size) of every offset field, for
    moving the data."""
    iloc = find(data, b"iloc", find(data, b"meta"))
    version = data[iloc.payload]
    pos = iloc.payload + 4
    packed = struct.unpack_from(">H", data, pos)[0]
    pos += 2
    off_size, len_size, base_size = packed >> 12, packed >> 8 & 15, packed >> 4 & 15
    index_size = packed & 15 if version > 1 else 0

    def read(n):
        nonlocal pos
        v = int.from_bytes(data[pos:pos + n], "big") if n else 0
        pos += n
        return v

    count = read(2 if version < 2 else 4)
    items, fields = {}, []
    for _ in range(count):
        item = read(2 if version < 2 else 4)
        method = read(2) & 15 if version >= 1 else 0
        read(2)
        base_at = pos
        base = read(base_size)
        if method == 0 and base_size:
            fields.append((base_at, base_size))
        extents = []
        for _ in range(read(2)):
            read(index_size)
            at = pos
            offset = read(off_size)
            if method == 0 and not base_size:
                fields.append((at, off_size))
            extents.append((base + offset, read(len_size)))
        items[item] = (method, extents)
    return items, fields


def item_types(data):
    """{item_ID: item type} from the infe boxes (versions 2 and 3)."""
    iinf = find(data, b"iinf", find(data, b"meta"))
    out = {}
    for b in boxes(data, iinf.payload + (6 if data[iinf.payload] == 0 else 8), iinf.end):
        v = data[b.payload]
        if b.type == b"infe" and v >= 2:
            n = 2 if v == 2 else 4
            item = int.from_bytes(data[b.payload + 4:b.payload + 4 + n], "big")
            out[item] = data[b.payload + 6 + n:b.payload + 10 + n]
    return out


def patch_grid(data, width, height):
    """The grid item's payload declares a width x height canvas (16-bit
    fields, in place). heif-enc wraps an odd-sized image in a 1x1 grid
    whose payload sits in the idat box."""
    grid = next(i for i, t in item_types(data).items() if t == b"grid")
    method, extents = iloc_items(data)[0][grid]
    start = extents[0][0]
    if method == 1:
        start += find(data, b"idat", find(data, b"meta")).payload
    out = bytearray(data)
    assert out[start + 1] & 1 == 0, "expected 16-bit grid fields"
    struct.pack_into(">HH", out, start + 4, width, height)
    return bytes(out)


def _ipma_with(data, ipma, item, indices):
    """ipma's bytes with essential associations to `indices` added for `item`."""
    version, flags = data[ipma.payload], data[ipma.payload + 3]
    pos = ipma.payload + 4
    count = struct.unpack_from(">I", data, pos)[0]
    pos += 4
    wide_id, wide_index = 4 if version >= 1 else 2, 2 if flags & 1 else 1
    entries = []
    for _ in range(count):
        iid = int.from_bytes(data[pos:pos + wide_id], "big")
        n = data[pos + wide_id]
        pos += wide_id + 1
        assoc = [int.from_bytes(data[pos + k * wide_index:pos + (k + 1) * wide_index], "big")
                 for k in range(n)]
        pos += n * wide_index
        if iid == item:
            top = 0x8000 if wide_index == 2 else 0x80
            assoc += [top | i for i in indices]
        entries.append((iid, assoc))
    body = data[ipma.payload:ipma.payload + 4] + struct.pack(">I", len(entries))
    for iid, assoc in entries:
        body += iid.to_bytes(wide_id, "big") + bytes([len(assoc)])
        body += b"".join(a.to_bytes(wide_index, "big") for a in assoc)
    return box(b"ipma", body)


def add_properties(data, props):
    """The file with properties `props` ([(b"irot", bytes([turns])),
    (b"imir", bytes([axis]))], in that order) added to ipco and associated
    (essential) with the primary item; the data after the meta box moves by
    the growth, and the iloc offsets with it."""
    meta = find(data, b"meta")
    primary = struct.unpack_from(">H", data, find(data, b"pitm", meta).payload + 4)[0]
    iprp = find(data, b"iprp", meta)
    ipco, ipma = find(data, b"ipco", iprp), find(data, b"ipma", iprp)
    first = len(boxes(data, ipco.payload, ipco.end)) + 1
    new_ipco = box(b"ipco", data[ipco.payload:ipco.end] + b"".join(box(k, p) for k, p in props))
    new_ipma = _ipma_with(data, ipma, primary, range(first, first + len(props)))
    rest = b"".join(data[b.start:b.end] for b in boxes(data, iprp.payload, iprp.end)
                    if b.type not in (b"ipco", b"ipma"))
    new_iprp = box(b"iprp", new_ipco + new_ipma + rest)
    body = data[meta.payload:iprp.start] + new_iprp + data[iprp.end:meta.end]
    new_meta = box(b"meta", body)
    grow = len(new_meta) - (meta.end - meta.start)
    out = bytearray(data[:meta.start] + new_meta + data[meta.end:])
    _, fields = iloc_items(bytes(out))
    for at, size in fields:
        value = int.from_bytes(out[at:at + size], "big")
        if value >= meta.end:
            out[at:at + size] = (value + grow).to_bytes(size, "big")
    return bytes(out)


def exif_orientation(o):
    """A big-endian EXIF (TIFF) block whose IFD0 holds Orientation = o."""
    return (b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 274, 3, 1, o, 0)
            + struct.pack(">I", 0))


def jpeg_with_exif(jpeg, o):
    """A JPEG's bytes with an APP1 Exif segment (Orientation = o) after SOI."""
    app1 = b"Exif\x00\x00" + exif_orientation(o)
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
