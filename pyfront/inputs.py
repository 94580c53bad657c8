"""The image files a command names: files as given, folders searched recursively."""

from __future__ import annotations

import os
from typing import Iterable


def image_extensions() -> frozenset:
    """The file name extensions Pillow can open (".jpg", ".png", ".webp", ...)."""
    from PIL import Image

    return frozenset(Image.registered_extensions())


def expand_images(arguments: Iterable) -> tuple[list, list]:
    """(paths, empty_folders). A file argument is kept as given, whatever its name, so an
    unreadable one gets reported rather than skipped; a folder contributes the image files
    under it, recognised by extension: its own in name order, then each subfolder's in turn
    (symbolic links to files included, links to folders not followed). Folders without
    image files are returned in `empty_folders`."""
    paths: list = []
    empty: list = []
    extensions = None
    for argument in map(os.fspath, arguments):
        if not os.path.isdir(argument):
            paths.append(argument)
            continue
        if extensions is None:
            extensions = image_extensions()
        found = list(_images_under(argument, extensions))
        paths.extend(found)
        if not found:
            empty.append(argument)
    return paths, empty


def _images_under(folder: str, extensions: frozenset):
    for root, folders, files in os.walk(folder):
        folders.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in extensions:
                yield os.path.join(root, name)
