"""A folder dataset: one subfolder per class, or `train/` and `val/` (and optionally
`test/`) each holding class subfolders. Without `val/`, a seeded split stratified by
class. `test/` is read only when asked for: it never takes part in training."""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EdgembError

LAYOUT_HINT = "give a folder with one subfolder of images per class (or train/ and val/ holding such subfolders)"


@dataclass
class FolderFiles:
    class_names: list[str]
    train: list[tuple[Path, int]]  # (file, class index)
    val: list[tuple[Path, int]]
    test: list[tuple[Path, int]] | None = None  # test/, when the folder has one


def visible(path: Path) -> bool:
    return not path.name.startswith(".")


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and visible(p))


def files_under(folder: Path) -> list[Path]:
    """Every visible file below `folder` (hidden files and folders left out), in a stable
    order. Which of them are images is found out when they are decoded: the others are
    skipped and reported then. os.walk reads each folder's entries with their types, so a
    folder of 100,000 images takes no stat call per file."""
    found = []
    for root, folders, files in os.walk(folder, followlinks=True):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root, name) for name in files if not name.startswith(".")]
    return sorted(found)


def class_files(folder: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    items = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        files = files_under(class_dir)
        if not files:
            raise EdgembError(f"class folder {class_dir} is empty: add images or remove the folder")
        items += [(f, label) for f in files]
    return items


def stratified_indices(labels: np.ndarray, num_classes: int, val_fraction: float,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a seeded shuffle; val takes round(n * val_fraction) of each class,
    at least one where the class has two or more members. Returns sorted (train, val) indices."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        order = rng.permutation(len(members))
        n_val = round(len(members) * val_fraction)
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.append(members[np.sort(order[:n_val])])
        train.append(members[np.sort(order[n_val:])])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def stratified_split(items: list[tuple[Path, int]], num_classes: int, val_fraction: float,
                     seed: int) -> tuple[list, list]:
    """stratified_indices over (file, class index) items."""
    labels = np.array([label for _, label in items], np.int64)
    train, val = stratified_indices(labels, num_classes, val_fraction, seed)
    return [items[i] for i in train], [items[i] for i in val]


def scan_folder(root: Path, val_fraction: float = 0.1, seed: int = 0) -> FolderFiles:
    root = Path(root)
    if not root.exists():
        raise EdgembError(f"{root} does not exist: {LAYOUT_HINT}")
    if not root.is_dir():
        raise EdgembError(f"{root} is not a folder: {LAYOUT_HINT}")
    train_dir, val_dir = root / "train", root / "val"
    split_layout = train_dir.is_dir()
    class_root = train_dir if split_layout else root
    class_names = [p.name for p in subfolders(class_root)]
    if len(class_names) < 2:
        raise EdgembError(f"{class_root} holds {len(class_names)} class folder(s), at least 2 are "
                          f"needed: {LAYOUT_HINT}")
    train = class_files(class_root, class_names)
    test = split_files(root / "test", train_dir, class_names) if split_layout else None
    if split_layout and val_dir.is_dir():
        return FolderFiles(class_names, train, split_files(val_dir, train_dir, class_names), test)
    train, val = stratified_split(train, len(class_names), val_fraction, seed)
    return FolderFiles(class_names, train, val, test)


def split_files(split_dir: Path, train_dir: Path, class_names: list[str]) -> list[tuple[Path, int]] | None:
    """The files of val/ or test/ (None if the folder has no such split)."""
    if not split_dir.is_dir():
        return None
    unknown = sorted({p.name for p in subfolders(split_dir)} - set(class_names))
    if unknown:
        raise EdgembError(f"{split_dir} has class folders that {train_dir} lacks: {', '.join(unknown)}")
    return class_files(split_dir, class_names)


def has_class_folders(root: Path) -> bool:
    return Path(root).is_dir() and bool(subfolders(Path(root)))
