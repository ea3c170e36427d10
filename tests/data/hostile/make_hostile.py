#!/usr/bin/python3
"""Writes the hostile-upload corpus (deterministic: the same bytes each run).

    make_hostile.py [DIR]      (default: the folder of this script)

Every file is one an upload service must refuse with a 4xx quickly and with
bounded memory under `tessera serve`'s default caps (docs/security.md):
decompression bombs, huge declared dimensions, too many frames or scans,
truncated files, wrong magic and polyglots. Valid base images are built
here (PNG, GIF, TIFF by hand; JPEG from tests/data; WebP from tests/data)
so nothing needs a third-party library. EXPECT maps each name to the
reason the server should give (a word of its error message)."""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)

# A ZIP archive with one stored file: what a polyglot appends.
ZIP = (b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00" + struct.pack("<III", 0, 5, 5)
       + struct.pack("<HH", 5, 0) + b"a.txt" + b"hello"
       + b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00"
       + struct.pack("<III", 0, 5, 5) + struct.pack("<HHHHHII", 5, 0, 0, 0, 0, 0, 0) + b"a.txt"
       + b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00" + struct.pack("<IIH", 51, 40, 0))
SCRIPT = b"\n<script>alert(document.domain)</script>\n"


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, depth, color, idat, extra=(), iend=True):
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    for kind, data in extra:
        out += chunk(kind, data)
    out += chunk(b"IDAT", idat)
    return out + (chunk(b"IEND", b"") if iend else b"")


def zeros_z(n, level=9):
    """zlib stream of n zero bytes, built in pieces (never n bytes in memory)."""
    c = zlib.compressobj(level)
    piece = b"\x00" * (1 << 20)
    parts = [c.compress(piece) for _ in range(n >> 20)]
    parts.append(c.compress(b"\x00" * (n & ((1 << 20) - 1))))
    parts.append(c.flush())
    return b"".join(parts)


def valid_png(width=64, height=48):
    raw = b"".join(b"\x00" + bytes((x * 4 + y) & 255 for x in range(width * 3))
                   for y in range(height))
    return png(width, height, 8, 2, zlib.compress(raw, 9))


def gif_frame(w=1, h=1, left=0, top=0):
    return (b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0)
            + b"\x02\x02\x44\x01\x00")  # LZW min code 2: one pixel


def gif(width, height, frames, trailer=True):
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    out += b"".join(frames)
    return out + (b"\x3b" if trailer else b"")


def lzw_zeros(pixels):
    """GIF LZW data (min code size 2) for `pixels` zero indices: clear codes
    keep the code size at 3 bits and each code emits one pixel... padded to
    sub-blocks. Only used for declared-size bombs, so it need not be long."""
    bits, nbits = 0, 0
    out = bytearray()
    codes = [4] + [0] * min(pixels, 1000) + [5]
    for i, code in enumerate(codes):
        bits |= code << nbits
        nbits += 3
        while nbits >= 8:
            out.append(bits & 255)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 255)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255))
    return b"\x02" + blocks + b"\x00"


def tiff_ifd(entries, next_ifd):
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    return ifd + struct.pack("<I", next_ifd)


def tiff(width, height, strip, compression=1, pages=1):
    """Gray 8-bit TIFF, one strip per page, all pages sharing the strip."""
    head = b"II*\x00" + struct.pack("<I", 8 + len(strip) + (len(strip) & 1))
    body = strip + (b"\x00" if len(strip) & 1 else b"")
    first = 8 + len(body)
    out = head + body
    for p in range(pages):
        entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8),
                   (259, 3, 1, compression), (262, 3, 1, 1), (273, 4, 1, 8),
                   (278, 4, 1, height), (279, 4, 1, len(strip))]
        size = 2 + 12 * len(entries) + 4
        nxt = first + (p + 1) * size if p + 1 < pages else 0
        out += tiff_ifd(entries, nxt)
    return out


def jpeg_sof(width, height):
    """SOI, a quant table, SOF0 declaring width x height (gray), SOS, EOI."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + sos + b"\x00" * 8 + b"\xff\xd9"


def progressive_jpeg():
    """A small valid progressive JPEG (16x16 gray), made with OpenCV
    (python3-opencv, which the oracle tests use too)."""
    import cv2
    import numpy
    img = numpy.array([[(x * 16 + y * 5) & 255 for x in range(16)] for y in range(16)],
                      dtype=numpy.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                         cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def progressive_scans(base, copies):
    """A progressive JPEG whose last scan is repeated `copies` times: each
    refinement re-walks every coefficient (a CPU bomb)."""
    eoi = base.rindex(b"\xff\xd9")
    # the last SOS segment: from its marker to EOI
    last = base.rindex(b"\xff\xda", 0, eoi)
    return base[:eoi] + base[last:eoi] * copies + b"\xff\xd9"


def webp_vp8x(width, height):
    """A VP8X header declaring a canvas of width x height and no image."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def isobmff_box(kind, payload, full=None):
    """An ISOBMFF box; `full` = (version, flags) makes it a full box."""
    if full is not None:
        payload = struct.pack(">I", full[0] << 24 | full[1]) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def heif_grids(count, width, height):
    """A HEIC whose meta box holds `count` grid items, each with a
    width x height canvas in the idat box: refused from the boxes, before
    libheif reads anything (docs/internals/heif.md)."""
    infe = b"".join(isobmff_box(b"infe", struct.pack(">HH4sB", i, 0, b"grid", 0), (2, 0))
                    for i in range(1, count + 1))
    iinf = isobmff_box(b"iinf", struct.pack(">H", count) + infe, (0, 0))
    grid = struct.pack(">BBBBHH", 0, 0, 15, 15, width, height)  # 16x16 tiles
    iloc = isobmff_box(b"iloc", struct.pack(">HH", 0x4400, count) + b"".join(
        struct.pack(">HHHHII", i, 1, 0, 1, 0, len(grid)) for i in range(1, count + 1)), (1, 0))
    meta = isobmff_box(b"meta", iinf + iloc + isobmff_box(b"idat", grid), (0, 0))
    return isobmff_box(b"ftyp", b"heic" + b"\x00" * 4 + b"mif1heic") + meta


def corpus():
    """{name: (bytes, expected word of the error)}."""
    good_png = valid_png()
    good_gif = read("anim.gif")
    good_jpeg = read("rocket.jpg")
    prog = progressive_jpeg()
    good_webp = read("coffee.webp")
    # Declared sizes are 50000 x 50000 (2.5 GP), over serve's 2 GP cap.
    idat_bomb = zeros_z(50000 * (1 + 50000 // 8) // 64)  # a slice: dims refuse it first
    files = {
        # -- decompression bombs and huge declared dimensions --
        "png_bomb_pixels.png": (png(50000, 50000, 1, 0, idat_bomb), "limit"),
        "png_bomb_width.png": (png(1000000, 1, 8, 0, zlib.compress(b"\x00" * 64)), "limit"),
        "png_ztxt_bomb.png": (png(1, 1, 8, 0, zlib.compress(b"\x00\x00"),
                                  extra=[(b"zTXt", b"k\x00\x00" + zeros_z(200 << 20))]), "png"),
        "png_iccp_bomb.png": (png(1, 1, 8, 0, zlib.compress(b"\x00\x00"),
                                  extra=[(b"iCCP", b"icc\x00\x00" + zeros_z(200 << 20))]), "png"),
        "gif_huge_screen.gif": (gif(65535, 65535, [gif_frame()]), "limit"),
        "gif_lzw_bomb.gif": (gif(10000, 10000, [b"\x2c" + struct.pack("<HHHHB", 0, 0, 10000,
                                                                      10000, 0)
                                                + lzw_zeros(10 ** 8)]), "limit"),
        "gif_many_frames.gif": (gif(1, 1, [gif_frame()] * 1500), "frames"),
        "tiff_huge.tif": (tiff(50000, 50000, zeros_z(50000 * 64), compression=8), "limit"),
        "tiff_deflate_bomb.tif": (tiff(50000, 50000, zeros_z(50000 * 50000 // 256),
                                       compression=8), "limit"),
        "tiff_many_ifds.tif": (tiff(1, 1, b"\x00", pages=1200), "frames"),
        "webp_huge_canvas.webp": (webp_vp8x(1 << 24, 1 << 24), "webp"),
        "jpeg_huge_sof.jpg": (jpeg_sof(60000, 60000), "limit"),
        "jpeg_many_scans.jpg": (progressive_scans(prog, 1100), "scans"),
        "heif_grid_bomb.heic": (heif_grids(1, 60000, 60000), "limit"),
        "heif_many_grids.heic": (heif_grids(300, 16, 16), "limit"),
        # -- truncated files of each format --
        "png_truncated.png": (good_png[:len(good_png) // 2], "png"),
        "gif_truncated.gif": (good_gif[:len(good_gif) // 2], "gif"),
        "jpeg_truncated.jpg": (good_jpeg[:len(good_jpeg) // 2], "jpeg"),
        "webp_truncated.webp": (good_webp[:len(good_webp) // 2], "webp"),
        "tiff_truncated.tif": (tiff(64, 64, bytes(range(256)) * 16)[:600], "tiff"),
        # -- wrong magic --
        "garbage.jpg": (bytes((i * 131 + 7) % 251 for i in range(4096)), "format"),
        "page.png": (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n",
                     "format"),
        "image.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                      b'<rect width="10" height="10"/></svg>\n', "format"),
        "script.gif": (b"alert(document.cookie);//GIF89a\n", "format"),
        "empty.png": (b"", "empty"),
        # -- polyglots --
        "gifar.gif": (gif(1, 1, [gif_frame()]) + ZIP, "polyglot"),
        "gif_script.gif": (gif(1, 1, [gif_frame()]) + SCRIPT, "polyglot"),
        "gif_js_header.gif": (b"GIF89a/*\x80\x00\x00" + b"\x00" * 6
                              + b"*/=1;alert(document.domain);//" + b"\x3b", "gif"),
        "png_zip.png": (good_png + ZIP, "polyglot"),
        "png_html.png": (good_png + b"<html><script>alert(1)</script></html>", "polyglot"),
        "jpeg_zip.jpg": (good_jpeg + ZIP, "polyglot"),
        "webp_zip.webp": (good_webp + ZIP, "polyglot"),
        "html_with_png.html": (b"<html><body><!--" + good_png + b"--></body></html>", "format"),
    }
    return files


def write(folder):
    os.makedirs(folder, exist_ok=True)
    for name, (data, _) in corpus().items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else HERE)
