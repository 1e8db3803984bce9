"""An on-disk cache of decoded images, reused by later runs over the same files.

A cached split is one file of fixed-size uint8 records (the reader's output for each
sample, all of one shape) and a manifest written last. Records are read with pread, not
memory-mapped: the kernel's page cache keeps what fits, and the training process's own
memory does not grow with the dataset. The cache is keyed by a fingerprint of the files
(relative path, size, modification time) and of the reader (what it makes, the
preprocessing), so a changed folder or setting builds a new one. It is built in a
temporary sibling named after its owner's process id and renamed into place complete;
a half-written one (killed, disk full) is never read and is swept by the next build.
"""
import errno
import hashlib
import json
import os
from dataclasses import dataclass
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ..errors import EdgembError
from ..io import atomic_dir, sweep_stale
from ..processes import start_worker_process
from .images import BadImage
from .samples import Samples

CACHE_VERSION = 1
PIXELS_FILE = "pixels.u8"
MANIFEST_FILE = "manifest.json"


def cache_root() -> Path:
    return Path(os.environ.get("EDGEMB_CACHE", Path.home() / ".cache" / "edgemb")) / "images"


def reader_description(samples: Samples) -> dict:
    reader = samples.reader
    if isinstance(reader, partial):
        return {"reader": reader.func.__name__,
                **{k: v.to_json() if hasattr(v, "to_json") else v for k, v in reader.keywords.items()}}
    return {"reader": reader.__name__}


def fingerprint(samples: Samples) -> str:
    """What the cached pixels depend on: every file's name, size and modification time,
    its label, and the reader."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, reader_description(samples)], sort_keys=True).encode())
    for source, sample_id, label in zip(samples.sources, samples.ids, samples.labels.tolist()):
        stat = os.stat(source)
        digest.update(f"{sample_id}\0{stat.st_size}\0{stat.st_mtime_ns}\0{label}\n".encode())
    return digest.hexdigest()


def read_record(index: int, path: str, shape: tuple, bad: frozenset) -> np.ndarray:
    if index in bad:
        raise BadImage("unreadable when the cache was built")
    size = int(np.prod(shape))
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, size, index * size)
    finally:
        os.close(fd)
    if len(data) != size:
        raise EdgembError(f"the image cache {path} is damaged: delete it and run again")
    return np.frombuffer(data, np.uint8).reshape(shape)


def cached_samples(samples: Samples, folder: Path, manifest: dict) -> Samples:
    reader = partial(read_record, path=str(folder / PIXELS_FILE), shape=tuple(manifest["shape"]),
                     bad=frozenset(manifest["bad"]))
    return Samples(list(range(len(samples))), samples.labels, samples.class_names, samples.ids, reader)


def valid_manifest(folder: Path, key: str) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        size = (folder / PIXELS_FILE).stat().st_size
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != key:
        return None
    if size != manifest["count"] * int(np.prod(manifest["shape"])):
        return None
    return manifest


_worker_samples: Samples | None = None


def start_worker(samples: Samples, parent: int) -> None:
    global _worker_samples
    start_worker_process(parent)
    _worker_samples = samples


def read_or_none(index: int) -> np.ndarray | None:
    try:
        return _worker_samples.read(index)
    except BadImage:
        return None


@dataclass
class CacheResult:
    samples: Samples
    folder: Path
    built: bool  # False: an earlier run's cache was reused


def cache_split(samples: Samples, dataset_path: str, split: str, workers: int, track) -> CacheResult:
    """`samples` (a split of the folder dataset at `dataset_path`) read from its cache,
    building the cache first (decoding with `workers` processes, shown through `track`)
    when it is missing or out of date."""
    root = cache_root()
    name = json.dumps([dataset_path, split, reader_description(samples)], sort_keys=True)
    folder = root / hashlib.sha256(name.encode()).hexdigest()[:16]
    key = fingerprint(samples)
    manifest = valid_manifest(folder, key)
    if manifest is not None:
        return CacheResult(cached_samples(samples, folder, manifest), folder, False)
    sweep_stale(root)
    try:
        with atomic_dir(folder, force=True) as tmp:
            manifest = write_cache(samples, tmp, key, f"{dataset_path} ({split})", workers, track)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EdgembError(f"no space left on device for the image cache in {root}: nothing was cached; "
                              "free some space, set EDGEMB_CACHE to another disk, or train without --cache") from None
        raise
    return CacheResult(cached_samples(samples, folder, manifest), folder, True)


def write_cache(samples: Samples, tmp: Path, key: str, name: str, workers: int, track) -> dict:
    shape, bad = None, []
    with open(tmp / PIXELS_FILE, "wb") as out, \
            Pool(max(1, workers), initializer=start_worker, initargs=(samples, os.getpid())) as pool:
        decoded = pool.imap(read_or_none, range(len(samples)), chunksize=64)
        for index, pixels in enumerate(track(decoded, len(samples), f"Caching {name}")):
            if pixels is not None and shape is None:
                shape = pixels.shape
                out.write(b"\0" * (index * int(np.prod(shape))))  # bad files before the first good one
            if pixels is None:
                bad.append(index)
                if shape is not None:
                    out.write(b"\0" * int(np.prod(shape)))
            else:
                if pixels.shape != shape:
                    raise ValueError(f"sample {samples.name(index)} has shape {pixels.shape}, not {shape}")
                out.write(np.ascontiguousarray(pixels).tobytes())
        out.flush()
        os.fsync(out.fileno())
    if shape is None:
        raise EdgembError(f"no image of {name} can be read: give a folder of JPEG/PNG/BMP/WebP images")
    manifest = {"version": CACHE_VERSION, "fingerprint": key, "name": name, "count": len(samples),
                "shape": list(shape), "bad": bad}
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest))
    return manifest
