"""Nothing a visitor sends can take the server down: one test per class of attack on the decoders.

Each crafted file is built here, small: the structural checks count segments, chunks, scans and blocks, so
a file just over a cap shows the refusal that the full-size attack (megabytes, minutes of CPU) gets too.
Size checks read the header alone, so a header claiming a huge image proves the refusal without decoding
anything. Where a slow or greedy file has to be decoded to be stopped, the test gives the worker pool a
much smaller budget than the app's 2 s / 500 MB, so the suite stays fast.

Also here: the canvas gate (only the canvas's own PNG is read), the worker pool's behaviour (cut-offs,
replacement of dead workers, concurrency, reuse), and pages shown with odd but valid photos.
"""

from __future__ import annotations

import os
import queue
import signal
import struct
import sys
import threading
import types
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.logic import checkpoints
from tests import decoders
from tests.app_helpers import stroke_canvas
from tests.conftest import require
from tests.test_hostile_inputs import encode
from tests.test_hostile_inputs import png_chunk as chunk
from uploads import InvalidImageError, decode_photo, limits, load_photo, pool, read_canvas, structure, worker
from uploads.canvas import decode_canvas
from uploads.limits import BUSY_MESSAGE, CORRUPT_MESSAGE, Budget
from uploads.photo_file import _jpeg_draft_size
from uploads.pool import TIME_SIGNALS, DecoderPool


# --- helpers ------------------------------------------------------------------------------------------
def png_file(width: int, height: int, colour_type: int = 2, channels: int = 3, extra: bytes = b"",
             idat: bytes | None = None, plte: bytes = b"", depth: int = 8, row_filter: int = 0,
             interlace: int = 0) -> bytes:
    """A PNG of zero pixels (``row_filter`` on every row), compressed fast, with ``extra`` chunks before IDAT."""
    if idat is None:
        c = zlib.compressobj(1)
        row = bytes([row_filter]) + b"\0" * (width * channels * depth // 8)
        idat = chunk(b"IDAT", b"".join(c.compress(row) for _ in range(height)) + c.flush())
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace))
    return b"\x89PNG\r\n\x1a\n" + ihdr + plte + extra + idat + chunk(b"IEND", b"")


def jpeg(size: tuple[int, int] = (48, 32), **kwargs) -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)), "JPEG", **kwargs)


def with_sof_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header claiming another size (the decoder never gets to see it)."""
    out = bytearray(data)
    sof = next(i for i in range(len(out) - 1) if out[i] == 0xFF and out[i + 1] in (0xC0, 0xC1, 0xC2))
    out[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def refusal(data: bytes, *fragments: str, **kwargs) -> str:
    """load_photo's message for ``data``; it must be a short sentence for a user containing ``fragments``."""
    with pytest.raises(InvalidImageError) as info:
        load_photo(data, **kwargs)
    message = str(info.value)
    assert message.endswith(".") and len(message) < 200, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def no_decoding(monkeypatch) -> None:
    """Fails the test if Pillow opens the file: the refusal must come from the structural or size check."""

    def refuse(*args, **kwargs):
        raise AssertionError("Image.open was called")

    monkeypatch.setattr(Image, "open", refuse)


def in_process_refusal(data: bytes, *fragments: str) -> str:
    """The same refusal without the worker (so ``no_decoding`` can watch Pillow in this process)."""
    return refusal(data, *fragments, sandbox=False)


# --- JPEG ---------------------------------------------------------------------------------------------
def test_repeated_exif_segments_refused(no_decoding):
    """Pillow concatenates repeated Exif blocks (quadratic time: a 20 MB file held the server for 62 s)."""
    j = jpeg()
    exif = b"\xff\xe1" + struct.pack(">H", 1_000) + b"Exif\0\0" + b"\0" * (1_000 - 8)
    in_process_refusal(j[:2] + exif * (structure.JPEG_MAX_EXIF + 1) + j[2:], "metadata")
    app1 = b"\xff\xe1\x00\x10" + b"\0" * 14
    in_process_refusal(j[:2] + app1 * (structure.JPEG_MAX_METADATA + 1) + j[2:], "metadata")


def test_a_few_metadata_segments_are_fine():
    j = jpeg()
    icc = b"\xff\xe2" + struct.pack(">H", 200) + b"ICC_PROFILE\0" + b"\0" * 186
    assert load_photo(j[:2] + icc * 20 + j[2:]).shape == (32, 48, 3)


@pytest.mark.parametrize("marker", [b"\xff\xfe", b"\xff\xe5"], ids=["COM", "APP5"])
def test_flood_of_empty_markers_refused(no_decoding, marker):
    """5 million empty COM/APP markers cost Pillow 4-11 s; the walk stops at the cap."""
    j = jpeg()
    in_process_refusal(j[:2] + (marker + b"\x00\x02") * 5_000 + j[2:], "metadata")


def test_flood_of_other_segments_refused(no_decoding):
    j = jpeg()
    dht = b"\xff\xc4\x00\x14\x00" + b"\x00" * 16 + b"\x00"  # an (empty) Huffman table, over and over
    in_process_refusal(j[:2] + dht * (structure.JPEG_MAX_SEGMENTS + 1) + j[2:], "segments")


def test_fill_bytes_refused(no_decoding):
    """0xFF padding is skipped a byte at a time by Pillow's parser (headers) and slowly by libjpeg (scans)."""
    j = jpeg()
    in_process_refusal(j[:2] + b"\xff" * (structure.JPEG_MAX_GAP + 10) + j[2:], "padding")
    in_process_refusal(j[:-2] + b"\xff" * 300 + j[-2:], "padding")


def progressive_with_scans(total: int, size: tuple[int, int] = (64, 64)) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has ``total`` scans (libjpeg decodes every
    repeat as one more pass over the whole image: 1,800 of them took 11 s)."""
    p = encode(Image.new("RGB", size, (120, 130, 140)), "JPEG", progressive=True)
    last_scan = p[p.rindex(b"\xff\xda") : -2]  # its marker segment and its data, up to EOI
    return p[:-2] + last_scan * (total - p.count(b"\xff\xda")) + p[-2:]


def test_repeated_progressive_scans_refused(no_decoding):
    in_process_refusal(progressive_with_scans(structure.JPEG_MAX_SCANS + 1), "progressive scans")


def test_scans_times_pixels_refused(no_decoding):
    """40 scans are fine for a small picture but not for 40 megapixels (each scan is a pass over all)."""
    data = progressive_with_scans(40)
    assert structure.check_jpeg(data).progressive  # accepted as it is
    in_process_refusal(with_sof_size(data, 8000, 5000), "progressive scans")


def test_a_normal_progressive_jpeg_decodes():
    data = progressive_with_scans(12, (200, 120))
    assert load_photo(data).shape == (120, 200, 3)


def test_modes_we_do_not_need_refused(no_decoding):
    j = jpeg()
    for sof in (b"\xff\xc9", b"\xff\xc3", b"\xff\xc5"):  # arithmetic, lossless, hierarchical
        in_process_refusal(j.replace(b"\xff\xc0", sof, 1), "ordinary JPEG")


def test_two_frame_headers_refused(no_decoding):
    j = jpeg()
    sof = j.index(b"\xff\xc0")
    length = int.from_bytes(j[sof + 2 : sof + 4], "big")
    big = with_sof_size(j[sof : sof + 2 + length], 9000, 9000)  # a second, larger frame header
    in_process_refusal(j[: sof + 2 + length] + big + j[sof + 2 + length :], "two image headers")


def test_progressive_cmyk_panorama_refused_from_its_header(no_decoding):
    """65500 x 915 progressive CMYK: every coefficient stays in memory (8.8 bytes a pixel), and Pillow's
    draft() picks the smaller axis ratio, so it decoded at full size (+0.7 GB)."""
    data = encode(Image.new("CMYK", (64, 16), (10, 20, 30, 40)), "JPEG", progressive=True)
    in_process_refusal(with_sof_size(data, 65_500, 915), "megapixels")


def test_draft_reduces_the_longer_side():
    assert _jpeg_draft_size(65_500, 915) == (8187, 114)  # 1/8 scale, not 1/1
    assert _jpeg_draft_size(4000, 3000) == (2000, 1500)
    assert _jpeg_draft_size(1600, 10) == (1600, 10)
    assert _jpeg_draft_size(30_000, 2) == (3750, 1)  # never a side of 0


def test_wide_baseline_jpeg_decodes_small():
    data = encode(Image.new("RGB", (12_800, 64), (200, 30, 60)), "JPEG", quality=90)
    rgb = load_photo(data)
    assert rgb.shape == (8, 1600, 3)
    assert np.abs(rgb[4, 800].astype(int) - (200, 30, 60)).max() < 10


# --- PNG ----------------------------------------------------------------------------------------------
def test_flood_of_empty_chunks_refused(no_decoding):
    """1.75 million empty chunks cost Pillow's chunk loop 4-11 s."""
    other = png_file(8, 8, extra=chunk(b"zzZz", b"") * (structure.PNG_MAX_OTHER_CHUNKS + 1))
    in_process_refusal(other, "chunks")
    good = png_file(8, 8)
    idat = good.index(b"IDAT") - 4
    empty_idats = good[:idat] + chunk(b"IDAT", b"") * structure.PNG_MAX_CHUNKS + good[idat:]
    in_process_refusal(empty_idats, "chunks")


def test_image_data_in_many_chunks_is_fine():
    """libpng writes 8 KB IDAT chunks: 2,000 of them (16 MB) are an ordinary big PNG."""
    data = png_file(64, 64)
    start, end = data.index(b"IDAT") - 4, data.index(b"IEND") - 4
    payload = data[start + 8 : end - 4]
    split = b"".join(chunk(b"IDAT", payload[i : i + 1]) for i in range(len(payload)))
    assert len(payload) < structure.PNG_MAX_CHUNKS
    assert load_photo(data[:start] + split + data[end:]).shape == (64, 64, 3)


def test_palette_png_with_transparency_refused_from_its_header(no_decoding):
    """1 x 55,000,000 palette pixels with transparency: 5 bytes a pixel and a premultiplied copy (+1.4 GB
    at 60 megapixels). Within MAX_PIXELS, but over what the memory budget can decode."""
    plte = chunk(b"PLTE", b"\x10\x20\x30" * 2) + chunk(b"tRNS", b"\x00\xff")
    data = png_file(55_000_000, 1, colour_type=3, channels=1, plte=plte, idat=chunk(b"IDAT", zlib.compress(b"")))
    in_process_refusal(data, "megapixels")


def test_huge_exif_block_is_ignored_not_parsed():
    """Pillow parses Exif in Python; a 1 MB eXIf chunk (JPEG's hold 64 KB) is ignored, the photo kept."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees, which must not happen
    block = exif.tobytes()
    data = png_file(40, 20, extra=chunk(b"eXIf", block + b"\0" * 2**20))
    assert load_photo(data).shape == (20, 40, 3)
    assert load_photo(png_file(40, 20, extra=chunk(b"eXIf", block))).shape == (40, 20, 3)  # a normal one is used


# --- GIF, WebP, BMP -----------------------------------------------------------------------------------
def test_gif_comment_in_one_byte_blocks_refused(no_decoding):
    """10 million one-byte comment blocks: +0.9 GB in Pillow's list of blocks."""
    g = encode(Image.new("P", (8, 8)), "GIF")
    at = 13 + 3 * 2 ** ((g[10] & 7) + 1)  # after the global colour table
    comment = b"\x21\xfe" + b"\x01x" * (structure.GIF_MAX_EXTENSION_BLOCKS + 1) + b"\x00"
    in_process_refusal(g[:at] + comment + g[at:], "extension blocks")
    assert load_photo(g[:at] + b"\x21\xfe" + b"\x01x" * 100 + b"\x00" + g[at:]).shape == (8, 8, 3)


@pytest.mark.parametrize("kind", ["lossless", "lossy", "extended"])
def test_webp_too_big_for_the_budget_refused_before_libwebp_sees_it(no_decoding, kind):
    """libwebp allocates the whole canvas when the file is opened: 2.3 KB of 7745 x 7745 took +0.9 GB."""
    im = Image.new("RGBA", (16, 16), (1, 2, 3, 128)) if kind == "extended" else Image.new("RGB", (16, 16))
    data = bytearray(encode(im, "WEBP", lossless=kind == "lossless"))
    assert bytes(data[12:16]) == {"lossless": b"VP8L", "lossy": b"VP8 ", "extended": b"VP8X"}[kind]
    side = 7745
    if kind == "lossless":
        bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
        data[21:25] = (bits | (side - 1) | (side - 1) << 14).to_bytes(4, "little")
    elif kind == "lossy":
        data[26:30] = struct.pack("<HH", side, side)
    else:
        data[24:30] = (side - 1).to_bytes(3, "little") * 2
    assert structure.check_webp(bytes(data)).width == side
    in_process_refusal(bytes(data), "megapixels")


def test_bmp_run_length_encoding_refused(no_decoding):
    """Pillow decodes RLE BMPs in Python: 31 KB of one-pixel rows cost seconds."""
    body = b"\x01\x07\x00\x00" * 64 + b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, 7000, 64, 1, 8, 1, len(body), 2835, 2835, 256, 0)
    offset = 14 + 40 + 1024
    data = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + b"\0" * 1024 + body
    in_process_refusal(data, "run-length")


def python_steps(check: Callable[[bytes], object], data: bytes) -> int:
    """How many lines of uploads/structure.py ``check(data)`` runs: the walk's Python-level work, counted
    (a search that ``re`` or ``bytes.find`` does in C is one line), so the bound holds on any machine."""
    steps = 0

    def count(frame, event, arg):
        nonlocal steps
        steps += event == "line"
        return count

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: count if frame.f_code.co_filename == structure.__file__ else None)
    try:
        check(data)
    except structure.StructureError:
        pass
    finally:
        sys.settrace(previous)
    return steps


def test_structure_checks_are_linear_on_20_mb():
    """The walks stay cheap on the largest upload, whatever it holds: their Python-level steps are bounded by
    the caps (at most GIF_MAX_EXTENSION_BLOCKS iterations of a few lines), never one per byte (20 million)."""
    filler = np.random.default_rng(0).integers(0, 256, 20 * 2**20 - 1000, dtype=np.uint8).tobytes()
    j = jpeg()
    sos = j.index(b"\xff\xda")
    files = {
        "jpeg scan data": j[: sos + 14] + filler.replace(b"\xff", b"\xfe") + b"\xff\xd9",
        "png": png_file(8, 8, extra=chunk(b"zzZz", filler)),
        "gif": b"GIF89a" + b"\x08\x00\x08\x00\x00\x00\x00" + b"\x21\xfe" + b"\xff" + filler,
        "jpeg ff00": j[: sos + 14] + b"\xff\x00" * (10 * 2**20 - 500) + b"\xff\xd9",
    }
    bound = 10 * structure.GIF_MAX_EXTENSION_BLOCKS
    for name, data in files.items():
        assert len(data) > 20 * 2**20 - 2000, name
        assert python_steps(structure.check_structure, data) < bound, name


# --- the budget ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heavy_png() -> bytes:
    """49 megapixels of RGBA zeros (Paeth-filtered rows) in an 870 KB PNG: a legitimate file, within the
    size limits, that takes ~1 s of CPU to decode here."""
    return png_file(7000, 7000, colour_type=6, channels=4, row_filter=4)


def small_png(colour=(10, 200, 30)) -> bytes:
    return encode(Image.new("RGB", (24, 16), colour), "PNG")


def new_pool(**budget) -> DecoderPool:
    """A pool of its own (the app's default budget unless given), its first worker started."""
    p = DecoderPool(Budget(**{"seconds": 2, "megabytes": 500, "workers": 1, **budget}))
    p.prewarm(1, wait=True)
    return p


@pytest.fixture
def one_worker():
    p = new_pool()
    yield p
    p.close()


def worker_pid(p: DecoderPool) -> int:
    """The process id of the worker that answers the next call (the pool's warmest)."""
    return decoders.read_whoami(p.run(decoders.whoami, b""))[0]


def exit_code(info: pytest.ExceptionInfo) -> int | None:
    """The exit code of the worker behind a refusal (the pool chains it as the error's cause)."""
    assert isinstance(info.value.__cause__, pool.WorkerExit), info.value.__cause__
    return info.value.__cause__.exitcode


def opened_for_writing(fifo: Path) -> BinaryIO:
    """``fifo`` opened for writing: that returns once a worker's ``decoders.wait_for`` has opened it for
    reading, so its decode is under way; it finishes when the file is closed."""
    box: queue.Queue[BinaryIO] = queue.Queue()
    threading.Thread(target=lambda: box.put(open(fifo, "wb")), daemon=True).start()
    return box.get(timeout=120)  # a guard against hanging, not a measurement


@pytest.fixture
def fifos(tmp_path) -> list[Path]:
    paths = [tmp_path / f"gate{i}" for i in range(3)]
    for path in paths:
        os.mkfifo(path)
    return paths


def test_cpu_budget_cuts_a_slow_decode_off(heavy_png):
    """A file that needs more CPU than the budget: the worker's CPU timer ends it (SIGPROF), the visitor is
    told why, and the pool carries on with a fresh worker."""
    p = new_pool(seconds=0.3)
    try:
        with pytest.raises(InvalidImageError, match=r"too long to decode \(0.3 s") as info:
            p.run(decode_photo, heavy_png)  # ~1 s of CPU if let run
        assert exit_code(info) in TIME_SIGNALS
        assert p.run(decode_photo, small_png())[0, 0].tolist() == [10, 200, 30]  # the server carries on
    finally:
        p.close()


def test_memory_budget_refuses_a_greedy_decode():
    """4.8 megapixels of RGBA pass the size check of a 70 MB budget (9 bytes a pixel) but need more than
    what is left once the worker's own ~43 MB are counted: the allocation fails, the answer is clear, and the
    worker (its heap perhaps fragmented) is replaced."""
    p = new_pool(megabytes=70)
    try:
        before = worker_pid(p)
        with pytest.raises(InvalidImageError, match="more than 70 MB of memory"):
            p.run(decode_photo, png_file(2400, 2000, colour_type=6, channels=4), (128, 128, 128), 70)
        assert worker_pid(p) != before
        assert p.run(decode_photo, small_png()).shape == (16, 24, 3)
    finally:
        p.close()


def test_a_worker_that_grew_is_replaced(one_worker):
    before = worker_pid(one_worker)
    assert worker_pid(one_worker) == before
    one_worker.run(decoders.hoard, b"", worker.RECYCLE_MB + 16)
    assert worker_pid(one_worker) != before


def test_dead_or_killed_workers_are_replaced(one_worker):
    """A worker killed while idle: the next call goes to a fresh one, and the visitor sees nothing."""
    (slot,) = one_worker._slots
    (process,) = pool._processes(slot.executor)
    process.kill()
    process.join()
    assert one_worker.run(decode_photo, small_png()).shape == (16, 24, 3)


def test_a_worker_that_crashes_mid_decode_gives_a_clean_refusal(one_worker):
    with pytest.raises(InvalidImageError) as info:
        one_worker.run(decoders.crash, b"")
    assert str(info.value) == CORRUPT_MESSAGE
    assert exit_code(info) == -signal.SIGSEGV
    assert one_worker.run(decode_photo, small_png()).shape == (16, 24, 3)


def test_a_refusing_decoder_or_a_non_image_is_a_message(one_worker):
    with pytest.raises(InvalidImageError, match="not an image we can read"):
        one_worker.run(decode_photo, b"\x00" * 100)
    with pytest.raises(InvalidImageError) as info:
        one_worker.run(decoders.not_an_image, b"")
    assert str(info.value) == CORRUPT_MESSAGE and info.value.__cause__ is None  # refused, the worker lives


def test_a_warm_worker_serves_call_after_call(one_worker):
    """Calls go to the warm worker, not to a process started for each (that would cost ~0.2 s of CPU)."""
    assert len({worker_pid(one_worker) for _ in range(20)}) == 1


def test_workers_leave_after_max_tasks(monkeypatch):
    """``max_tasks_per_child``: a worker leaves after MAX_TASKS_PER_WORKER calls, and its successor answers."""
    monkeypatch.setattr(pool, "MAX_TASKS_PER_WORKER", 2)
    p = DecoderPool(Budget(workers=1))
    try:
        pids = [worker_pid(p) for _ in range(4)]
    finally:
        p.close()
    assert pids[0] == pids[1] != pids[2] == pids[3]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_workers_import_neither_torch_nor_streamlit_and_run_one_thread(one_worker):
    """This process has Streamlit loaded (and torch, for the page tests); a worker has neither (it is spawned,
    not forked), and NumPy's libraries run one thread in it (it set its environment before NumPy loaded)."""
    assert "streamlit" in sys.modules
    _pid, threads, *loaded = decoders.read_whoami(
        one_worker.run(decoders.whoami, b"", "torch", "streamlit", "numpy", "uploads.photo_file")
    )
    assert loaded == [0, 0, 1, 1]
    assert threads == 1


def test_workers_never_run_the_script_that_is_main(tmp_path, monkeypatch):
    """While Streamlit runs a page, that page's script is ``__main__``; multiprocessing would run it again in
    every spawned worker (importing the whole app). A worker started then does not run it."""
    marker = tmp_path / "ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    p = new_pool()
    try:
        assert p.run(decode_photo, small_png()).shape == (16, 24, 3)
    finally:
        p.close()
    assert not marker.exists()
    assert sys.modules["__main__"] is page  # put back after the worker started


def _decode_in_a_forked_child(data: bytes) -> tuple[int, ...]:
    return load_photo(data).shape


def test_a_forked_child_decodes_with_workers_of_its_own_and_exits():
    """A process forked after this one started its workers (a data loader, say) cannot use them (their
    threads are not in the child): it starts its own, and leaving does not wait for them."""
    import multiprocessing

    assert load_photo(small_png()).shape == (16, 24, 3)  # this process's pool is up
    with ProcessPoolExecutor(1, multiprocessing.get_context("fork")) as children:
        assert children.submit(_decode_in_a_forked_child, small_png()).result(timeout=60) == (16, 24, 3)


def test_one_slow_upload_does_not_hold_up_another(fifos):
    """Two visitors' decodes are under way (held until the test lets them finish); a third visitor's photo
    is decoded meanwhile, before either of them ends."""
    p = new_pool(workers=3)
    finished: list[str] = []
    try:
        with ThreadPoolExecutor(2) as visitors:
            slow = [visitors.submit(p.run, decoders.wait_for, b"slow", str(fifo)) for fifo in fifos[:2]]
            for future in slow:
                future.add_done_callback(lambda _: finished.append("slow"))
            gates = [opened_for_writing(fifo) for fifo in fifos[:2]]  # both decodes are under way
            third = p.run(decode_photo, small_png())
            finished.append("third")
            for gate in gates:
                gate.close()
            answers = [future.result(timeout=120) for future in slow]
    finally:
        p.close()
    assert third.shape == (16, 24, 3)
    assert finished == ["third", "slow", "slow"]
    assert [a.shape for a in answers] == [(2, 2, 3), (2, 2, 3)]


def test_a_worker_killed_by_its_budget_does_not_fail_other_decodes(fifos):
    """One executor per worker: a worker ending on its CPU timer breaks only its own executor, not the decode
    another visitor has under way."""
    p = new_pool(workers=2, seconds=0.3)
    try:
        with ThreadPoolExecutor(1) as visitors:
            other = visitors.submit(p.run, decoders.wait_for, b"other", str(fifos[0]))
            gate = opened_for_writing(fifos[0])
            with pytest.raises(InvalidImageError, match="too long to decode") as info:
                p.run(decoders.spin, b"")
            assert exit_code(info) in TIME_SIGNALS
            gate.close()
            assert other.result(timeout=120).shape == (2, 2, 3)
    finally:
        p.close()


def test_a_decode_past_the_wall_clock_is_cut_off(fifos):
    """A decode that uses no CPU but never ends (here: waiting on a pipe no one writes): after the wall-clock
    timeout the visitor hears that the server is busy, the worker is killed and a fresh one takes over."""
    p = new_pool(timeout=1.0)
    try:
        with pytest.raises(InvalidImageError) as info:
            p.run(decoders.wait_for, b"", str(fifos[0]))
        assert str(info.value) == BUSY_MESSAGE
        assert exit_code(info) == -signal.SIGKILL
        p.prewarm(1, wait=True)
        assert p.run(decode_photo, small_png()).shape == (16, 24, 3)
    finally:
        p.close()


def test_busy_when_every_worker_is_taken():
    """With every worker taken, a visitor waits at most the wall-clock timeout for one, then is told."""
    p = new_pool(timeout=1.0)
    try:
        taken = p._idle.get_nowait()  # another visitor holds the only worker
        with pytest.raises(InvalidImageError) as info:
            p.run(decode_photo, small_png())
        assert str(info.value) == BUSY_MESSAGE and info.value.__cause__ is None  # no worker was harmed
        p._idle.put(taken)
        assert p.run(decode_photo, small_png()).shape == (16, 24, 3)
    finally:
        p.close()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_sandbox_and_in_process_decode_agree(fmt):
    rng = np.random.default_rng(3)
    data = encode(Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)), fmt)
    np.testing.assert_array_equal(load_photo(data), load_photo(data, sandbox=False))


def test_budget_from_the_environment(monkeypatch):
    for name in (limits.SECONDS_ENV, limits.MEGABYTES_ENV, limits.WORKERS_ENV):
        monkeypatch.delenv(name, raising=False)
    assert (limits.decode_budget().seconds, limits.decode_budget().megabytes) == (2.0, 500.0)
    assert limits.decode_budget().workers == (os.cpu_count() or 1) + 1
    monkeypatch.setenv(limits.SECONDS_ENV, "0.5")
    monkeypatch.setenv(limits.MEGABYTES_ENV, "300")
    monkeypatch.setenv(limits.WORKERS_ENV, "2")
    assert limits.decode_budget() == Budget(0.5, 300.0, 2)
    pool.reset_default_pool()  # the default pool reads the environment when it starts (no worker starts here)
    try:
        assert pool.default_pool().budget == Budget(0.5, 300.0, 2)
    finally:
        pool.reset_default_pool()
    for bad in ("0", "-1", "lots"):
        monkeypatch.setenv(limits.SECONDS_ENV, bad)
        with pytest.raises(ValueError, match=limits.SECONDS_ENV):
            limits.decode_budget()


def test_limits_without_resource_module(monkeypatch):
    """Where ``resource`` is missing (Windows) the limits are skipped, not a crash."""
    monkeypatch.setattr(worker, "resource", None)
    with worker.limits(1.0, 100):
        pass


# --- the canvas ---------------------------------------------------------------------------------------
def canvas_png(side: int = 280, mode: str = "RGBA", **kwargs) -> bytes:
    im = Image.new(mode, (side, side), (0, 0, 0, 255)[: len(mode)])
    return encode(im, "PNG", **kwargs)


def test_canvas_png_is_read():
    drawing = stroke_canvas([(150, 40), (142, 240)], 20)
    rgba = read_canvas(encode(Image.fromarray(drawing), "PNG"))
    assert rgba.dtype == np.uint8 and rgba.shape == (280, 280, 4)
    np.testing.assert_array_equal(rgba, drawing)
    assert read_canvas(canvas_png(mode="RGB")).shape == (280, 280, 4)  # an opaque canvas may come as RGB


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("13300 x 13300 PNG", png_file(13_300, 13_300, idat=chunk(b"IDAT", zlib.compress(b"")))),
        ("TIFF", encode(Image.new("RGB", (280, 280)), "TIFF")),
        ("TGA", encode(Image.new("RGB", (280, 280)), "TGA")),
        ("JPEG", encode(Image.new("RGB", (280, 280)), "JPEG")),
        ("interlaced PNG", png_file(280, 280, colour_type=6, channels=4, interlace=1)),
        ("16-bit PNG", png_file(280, 280, depth=16)),
        ("palette PNG", canvas_png(mode="P")),
        ("empty", b""),
        ("not bytes", "data:image/png;base64,AAAA"),
    ],
)
def test_anything_but_the_canvas_png_is_refused(monkeypatch, name, data):
    """What a browser could send in place of the drawing (13300 x 13300 cost +6 GB and 18 s before):
    refused from its first bytes, before any worker decodes it."""
    monkeypatch.setattr(DecoderPool, "run", lambda *a: pytest.fail("sent to a worker"))
    with pytest.raises(InvalidImageError, match="drawing could not be read"):
        read_canvas(data)


def test_truncated_canvas_png_refused():
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        read_canvas(canvas_png()[:-40])
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        decode_canvas(canvas_png()[:-40])


class Canvas:
    """Stands in for streamlit_drawable_canvas: returns whatever bytes the 'browser' sent."""

    json_data = None  # the strokes the browser sent; the page only keeps them for feedback

    def __init__(self, png: object) -> None:
        self.png = png

    def st_canvas(self, **kwargs):
        return self

    @property
    def image_bytes(self) -> object:
        if isinstance(self.png, Exception):  # the real property splits the data URL and decodes base64
            raise self.png
        return self.png


@pytest.mark.parametrize(
    "png",
    [png_file(13_300, 13_300, idat=chunk(b"IDAT", zlib.compress(b""))), canvas_png()[:300],
     encode(Image.new("RGB", (280, 280)), "TIFF"), ValueError("not enough values to unpack")],
    ids=["huge", "truncated", "tiff", "not-a-data-url"],
)
def test_draw_page_shows_a_message_for_a_bad_canvas(monkeypatch, png):
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = Canvas(png).st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    at = AppTest.from_string("from app.draw_page import render\nrender()\n", default_timeout=120).run()
    assert not at.exception
    assert "The drawing could not be read" in "\n".join(str(e.value) for e in at.error)
    assert len(at.metric) == 0


# --- pages with odd but valid photos ------------------------------------------------------------------
@pytest.mark.parametrize("size", [(3200, 2), (1, 1600), (1600, 1), (1, 1), (2, 3)])
def test_pets_page_shows_odd_photos(size):
    require(all(checkpoints.checkpoint_path(s).exists() for s in checkpoints.PET_MODELS), "photo models not trained")
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)), "PNG")
    at = AppTest.from_string("from app.pets_page import render\nrender()\n", default_timeout=120).run()
    at.radio(key="pet_source").set_value("Upload a photo").run()
    at.file_uploader(key="pet_upload").upload("odd.png", data, "image/png").run()
    assert not at.exception
    assert len(at.metric) == len(checkpoints.PET_MODELS) and len(at.error) == 0


@pytest.mark.parametrize("size", [(3200, 2), (1, 1600), (1, 1)])
def test_draw_page_upload_of_odd_pictures(monkeypatch, size):
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = Canvas(None).st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    data = encode(Image.new("L", size, 20), "PNG")
    at = AppTest.from_string("from app.draw_page import render\nrender()\n", default_timeout=120).run()
    at.radio(key="digit_source").set_value("Upload a picture").run()
    at.file_uploader(key="digit_upload").upload("odd.png", data, "image/png").run()
    assert not at.exception


@pytest.mark.parametrize(
    "data",
    [progressive_with_scans(structure.JPEG_MAX_SCANS + 1), png_file(8, 8, extra=chunk(b"zzZz", b"") * 1_001),
     b"BM" + b"\0" * 60],
    ids=["rescans", "chunks", "broken-bmp"],
)
def test_pets_page_refusals_are_messages(data):
    require(all(checkpoints.checkpoint_path(s).exists() for s in checkpoints.PET_MODELS), "photo models not trained")
    at = AppTest.from_string("from app.pets_page import render\nrender()\n", default_timeout=120).run()
    at.radio(key="pet_source").set_value("Upload a photo").run()
    at.file_uploader(key="pet_upload").upload("bad.jpg", data, "image/jpeg").run()
    assert not at.exception and len(at.metric) == 0
    (error,) = at.error
    assert str(error.value).startswith("Could not use this file: ")


def test_shown_letterboxes_thin_photos():
    from app.shared import shown

    strip = np.full((2, 3200, 3), 7, np.uint8)
    out = shown(strip)
    assert out.shape == (800, 3200, 3) and (out[399:401] == 7).all() and out[0, 0].tolist() == [128, 128, 128]
    assert shown(np.zeros((1600, 1, 3), np.uint8)).shape == (1600, 400, 3)
    photo = np.zeros((120, 160, 3), np.uint8)
    assert shown(photo) is photo


def test_every_attack_file_gives_only_documented_outcomes():
    """The crafted files above, through the real worker with the app's budget: an image or a message."""
    j = jpeg()
    files = [
        j[:2] + b"\xff" * 5000 + j[2:], j[:-2] + b"\xff" * 5000 + j[-2:], progressive_with_scans(70),
        png_file(8, 8, extra=chunk(b"zzZz", b"") * 2_000), png_file(60_000_000, 1, colour_type=3, channels=1),
        with_sof_size(encode(Image.new("CMYK", (64, 16)), "JPEG", progressive=True), 65_500, 915),
        b"GIF89a\x08\x00\x08\x00\x00\x00\x00" + b"\x21\xfe" + b"\x01x" * 30_000,
    ]
    for data in files:
        refusal(data)

