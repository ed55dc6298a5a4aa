"""One model from a thread pool: the same numbers as one thread, and the
GIL released while the library computes (another Python thread runs)."""
import concurrent.futures as cf
import threading
import time

import numpy as np

import clipcl
from conftest import DEVICES, PNGS, data, dev_kw


def test_thread_pool_gives_the_same_numbers(tiny_model):
    for device in DEVICES:
        m = clipcl.load(tiny_model, device=dev_kw(device), batch=4)
        rng = np.random.default_rng(0)
        pixels = rng.standard_normal((8, 4, 3, 32, 32)).astype(np.float32)
        texts = [["a cat %d" % i, "dog", "hello %d" % i, "photo of a cat"] for i in range(8)]
        paths = [data(n) for n in PNGS[:4]]
        # every call the same number of rows: the same device plan, whatever the order
        jobs = [(m.encode_image, pixels[i]) for i in range(8)] + \
               [(m.encode_text, texts[i]) for i in range(8)] + \
               [(m.encode_image, paths)] * 4 + [(m.tokenize, texts[i]) for i in range(8)]
        serial = [f(x) for f, x in jobs]
        with cf.ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(2):
                got = list(pool.map(lambda j: j[0](j[1]), jobs))
                for a, b in zip(got, serial):
                    assert a.dtype == b.dtype and np.array_equal(a, b), device


def test_gil_is_released_while_the_device_computes():
    m = clipcl.load(data("clip_small_vit/openai"), device="ref", batch=256)
    px = np.zeros((256, 3, 32, 32), np.float32)
    m.encode_image(px)  # the plan for 256 rows, built once
    t0 = time.perf_counter()
    m.encode_image(px)
    one_call = time.perf_counter() - t0
    done = threading.Event()
    ticks = []

    def work():
        m.encode_image(px)  # one library call for all 256 rows
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    gaps = np.diff(ticks) if len(ticks) > 1 else np.array([one_call])
    # the GIL held for the call would stop this loop for all of it
    assert one_call > 0.02, one_call
    assert len(ticks) >= 5 and gaps.max() < one_call / 2, (len(ticks), gaps.max(), one_call)
