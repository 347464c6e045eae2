"""A synthetic stand-in for the competition data, in the same Kaggle layout.

Each image is a character as a street-view crop looks: a font the machine has (a family at
random, then one of its styles; always Pillow's built-in scalable font too), sign-like or
random colours on a gradient, pieces of the neighbouring letters at the edges, rotation, shear
and scale, camera blur and sensor noise, and an original size and aspect ratio drawn from a
wide range. Like the real files, originals are PNG bytes behind `.Bmp` names, the 20x20 copies
are BMP, and a few images are grey.
The same seed on the same machine (same fonts) gives the same bytes.
"""
import glob
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from julia_core import settings
from julia_core.data.dataset import ANSWERS_FILE, LABELS_FILE
from julia_core.errors import DataError
from julia_core.files import write_text_atomic
from julia_core.data.label_file import write_labels
from julia_core.data.classes import CLASSES

log = logging.getLogger(__name__)

BUILTIN_FONT = "pillow-builtin"
FONT_PATTERNS = ("/usr/share/fonts/**/*.ttf", "/usr/share/fonts/**/*.otf",
                 "/Library/Fonts/*.ttf", "/System/Library/Fonts/**/*.ttf", "C:/Windows/Fonts/*.ttf")
CANVAS_HEIGHT = 96      # drawn large, then shrunk to the original size: soft edges like a camera's
GREY_FRACTION = 0.01    # the real set has a few 8-bit grey files among the RGB ones
SIGN_COLOURS = [        # (text, background) pairs seen on shop fronts and street signs
    ((255, 255, 255), (20, 60, 150)), ((255, 255, 255), (0, 110, 60)), ((255, 255, 255), (190, 20, 30)),
    ((20, 20, 20), (240, 200, 20)), ((20, 20, 20), (235, 235, 225)), ((200, 30, 30), (245, 245, 240)),
    ((250, 250, 250), (30, 30, 30)), ((30, 40, 120), (230, 230, 230)),
]


@dataclass
class DemoSet:
    root: Path
    train_count: int
    test_count: int
    fonts: list[str]


def available_fonts(folder: str | Path | None = None) -> list[str]:
    """Pillow's built-in font first, then every TrueType/OpenType file (the machine's, or those
    under `folder`) that draws all 62 classes as Latin letters: symbol, dingbat, keyboard,
    small-caps and incomplete fonts would draw wrong labels."""
    patterns = (FONT_PATTERNS if folder is None else
                [str(Path(folder).expanduser() / "**" / f"*.{kind}") for kind in ("ttf", "otf", "TTF", "OTF")])
    paths = sorted({path for pattern in patterns for path in glob.glob(pattern, recursive=True)})
    families = _font_verdicts(paths)
    _known_families.update(families)
    return [BUILTIN_FONT] + [path for path in paths if families[path]]


def fonts_digest(fonts: list[str]) -> str:
    """A short name for a font list (file names only: the same fonts on another system match)."""
    names = "\n".join(sorted(os.path.basename(font) for font in fonts))
    return hashlib.sha256(names.encode()).hexdigest()[:8]


PROBE = "AEHKLRTXabdeghknprsy"  # letters whose shape is much the same in any Latin typeface
MIN_LETTERS_READ = 0.3          # dingbats and symbols read 0.1-0.25 here; italic serifs 0.4 and up
MIN_LOWERCASE_READ = 0.25       # Greek behind Latin codes, all-caps and school-cursive fonts: 0-0.17
MAX_CASE_LIKENESS = 0.75        # lowercase drawn as capitals (small caps, unicase) above this
FONT_RULES = 2                  # the checks' version: cached verdicts of older checks are redone
_known_families: dict[str, str] = {}  # font file -> family name, from the verdicts


def _font_verdicts(paths: list[str]) -> dict[str, str]:
    """Each font file's family name, or "" for a file that would draw wrong labels. Checking a
    file takes ~20 ms, so verdicts are kept in the cache by file size and time (1,100 fonts)."""
    store = settings.cache_dir() / "fonts.json"
    try:
        known = json.loads(store.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    verdicts, changed = {}, False
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:  # vanished since the glob
            verdicts[path] = ""
            continue
        stamp = f"{FONT_RULES}:{stat.st_size}:{stat.st_mtime_ns}"
        entry = known.get(path)
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp and isinstance(entry[1], str)):
            known[path], changed = [stamp, _usable_family(path)], True
        verdicts[path] = known[path][1]
    if changed:
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(store, json.dumps(known, indent=0))
        except OSError:  # a read-only cache: check again next time
            pass
    return verdicts


def _usable_family(path: str) -> str:
    try:
        font = ImageFont.truetype(path, 64)
        usable = reads_as_latin(font) and draws_every_class(font)
    except (OSError, ValueError):  # a file FreeType cannot read, or a face without these glyphs
        return ""
    return (font.getname()[0] or path) if usable else ""


def reads_as_latin(font: ImageFont.FreeTypeFont) -> bool:
    """Most probe letters, and enough of the lowercase ones, look more like the built-in font's
    same letter (upright or slanted) than like any other probe letter, and lowercase does not
    look like uppercase."""
    glyphs = _glyph_vectors(font, PROBE)
    hits = [np.argmax(glyphs @ reference.T, axis=1) == np.arange(len(PROBE)) for reference in _reference_glyphs()]
    lowercase = PROBE.index("a")
    read = max(float(np.mean(row)) for row in hits)
    read_lowercase = max(float(np.mean(row[lowercase:])) for row in hits)
    case_likeness = float(np.mean(np.sum(_glyph_vectors(font, "aegr") * _glyph_vectors(font, "AEGR"), axis=1)))
    return read >= MIN_LETTERS_READ and read_lowercase >= MIN_LOWERCASE_READ and case_likeness <= MAX_CASE_LIKENESS


def draws_every_class(font: ImageFont.FreeTypeFont) -> bool:
    """Every class has a glyph of its own: fonts without digits draw them blank or as the
    missing-glyph box, which would be a wrong label."""
    missing = _glyph_pixels(font, "\uffff")  # a non-character: always the font's missing glyph
    for char in CLASSES:
        pixels = _glyph_pixels(font, char)
        if not pixels.any() or np.array_equal(pixels, missing):
            return False
    return True


def _glyph_pixels(font, char: str, slant: float = 0.0) -> np.ndarray:
    mask = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(mask).text((64, 64), char, fill=255, font=font, anchor="mm")
    if slant:
        mask = mask.transform(mask.size, Image.Transform.AFFINE, (1, slant, -slant * 64, 0, 1, 0),
                              Image.Resampling.BILINEAR)
    return np.asarray(mask)


@lru_cache(maxsize=1)
def _reference_glyphs() -> tuple[np.ndarray, ...]:
    builtin = ImageFont.load_default(64)
    return _glyph_vectors(builtin, PROBE), _glyph_vectors(builtin, PROBE, slant=0.25)


def _glyph_vectors(font, chars: str, slant: float = 0.0) -> np.ndarray:
    """Each character cut to its ink, shrunk to 16x16, centred and scaled to unit length (rows)."""
    rows = []
    for char in chars:
        mask = Image.fromarray(_glyph_pixels(font, char, slant))
        box = mask.getbbox()
        pixels = np.zeros(256) if box is None else \
            np.asarray(mask.crop(box).resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float64).ravel()
        pixels = pixels - pixels.mean()
        rows.append(pixels / (np.linalg.norm(pixels) + 1e-9))
    return np.stack(rows)


@lru_cache(maxsize=8)
def font_families(fonts: tuple[str, ...]) -> list[list[str]]:
    """The fonts grouped by family name: a family of 30 weights should not drown one of 2."""
    groups: dict[str, list[str]] = {}
    for name in fonts:
        groups.setdefault(_family_name(name), []).append(name)
    return [groups[family] for family in sorted(groups)]


def family_names(fonts: list[str]) -> list[str]:
    """The family names of these fonts, sorted."""
    return sorted({_family_name(font) for font in fonts})


def _family_name(font: str) -> str:
    if font == BUILTIN_FONT:
        return font
    return _known_families.get(font) or ImageFont.truetype(font, 16).getname()[0] or font


def _choose_font(fonts: list[str], rng: np.random.Generator) -> str:
    family = (families := font_families(tuple(fonts)))[rng.integers(len(families))]
    return family[rng.integers(len(family))]


_thread_fonts = threading.local()  # FreeType faces are not safe to share between threads
FACES_PER_THREAD = 512  # each face maps its file once: hundreds of fonts at ~100 sizes each would
                        # pass Linux's 65530 memory maps per process; opening one costs ~0.2 ms


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    cache = _thread_fonts.__dict__.setdefault("fonts", OrderedDict())
    if (name, size) in cache:
        cache.move_to_end((name, size))
    else:
        cache[name, size] = ImageFont.load_default(size) if name == BUILTIN_FONT else ImageFont.truetype(name, size)
        while len(cache) > FACES_PER_THREAD:
            cache.popitem(last=False)
    return cache[name, size]


def render_character(char: str, rng: np.random.Generator, fonts: list[str]) -> Image.Image:
    """One street-view-like crop of `char`, cut close around it as the real crops are (RGB)."""
    mask = _glyph_mask(char, rng, fonts)
    height = int(round(np.exp(rng.uniform(np.log(14), np.log(150)))))
    width = max(4, int(round(height * mask.width / mask.height * rng.uniform(0.85, 1.15))))
    text_colour, background = _colours(rng, mask.size)
    coverage = (np.asarray(mask, dtype=np.float32) / 255.0)[..., None]
    pixels = background * (1.0 - coverage) + text_colour * coverage
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 3.0)))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, rng.uniform(1.0, 9.0), (height, width, 1))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _colours(rng: np.random.Generator, canvas: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A text colour and a background gradient (H, W, 3) that differ enough to read."""
    if rng.random() < 0.4:
        text, back = (np.array(c, dtype=np.float32) for c in SIGN_COLOURS[rng.integers(len(SIGN_COLOURS))])
        text = text + rng.normal(0, 15, 3)
        back = back + rng.normal(0, 20, 3)
        if rng.random() < 0.3:
            text, back = back, text
    else:
        while True:
            text, back = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            if abs(_luminance(text) - _luminance(back)) > 50:
                break
    # Street photos are duller than paint swatches: pull both towards their grey.
    keep = rng.uniform(0.25, 1.0)
    text = _luminance(text) + keep * (text - _luminance(text))
    back = _luminance(back) + keep * (back - _luminance(back))
    width, height = canvas
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(angle) * (xs / width - 0.5) + np.sin(angle) * (ys / height - 0.5))[..., None]
    gradient = back + ramp * rng.normal(0, 45, 3)
    return text.astype(np.float32), gradient.astype(np.float32)


def _luminance(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _glyph_mask(char: str, rng: np.random.Generator, fonts: list[str]) -> Image.Image:
    """Coverage (mode L) of the character on a canvas cut close around it, with whatever of
    its neighbours and of a sign's border line falls inside."""
    name = _choose_font(fonts, rng)
    stroke = int(rng.integers(0, 3))
    probe = _font(name, 100).getbbox(char, anchor="mm", stroke_width=stroke)
    margin_h, margin_w = rng.uniform(1.05, 1.35), rng.uniform(1.05, 1.45)
    font = _font(name, max(8, int(100 * CANVAS_HEIGHT / (max(probe[3] - probe[1], 1) * margin_h))))
    left, top, right, bottom = font.getbbox(char, anchor="mm", stroke_width=stroke)
    width = max(int((right - left) * margin_w), CANVAS_HEIGHT // 3)
    canvas = Image.new("L", (width, CANVAS_HEIGHT), 0)
    draw = ImageDraw.Draw(canvas)
    # Place the glyph's own box (not the font's line box) at the centre, give or take a little.
    anchor = (width / 2 - (left + right) / 2 + rng.normal(0, width * 0.03),
              CANVAS_HEIGHT / 2 - (top + bottom) / 2 + rng.normal(0, CANVAS_HEIGHT * 0.03))
    draw.text(anchor, char, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    half = font.getlength(char) / 2
    for side in (-1, 1):  # real crops cut into the neighbouring letters at the edges
        if rng.random() < 0.5:
            neighbour = CLASSES[rng.integers(len(CLASSES))]
            gap = half + font.getlength(neighbour) / 2 + rng.uniform(0.03, 0.2) * font.size
            draw.text((anchor[0] + side * gap, anchor[1]), neighbour, fill=255, font=font,
                      anchor="mm", stroke_width=stroke, stroke_fill=255)
    if rng.random() < 0.1:
        y = rng.choice([rng.uniform(0, 0.06), rng.uniform(0.94, 1.0)]) * CANVAS_HEIGHT
        draw.line([(0, y), (width, y)], fill=255, width=int(rng.integers(2, 6)))
    return _distort(canvas, rng)


def _distort(mask: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotate, shear and scale about the centre, as a sign seen at an angle."""
    angle = np.deg2rad(rng.normal(0, 6))
    shear = rng.normal(0, 0.12)
    scale = rng.uniform(0.85, 1.15)
    forward = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ \
        np.array([[1.0, shear], [0.0, 1.0]]) * scale
    inverse = np.linalg.inv(forward)
    cx, cy = mask.width / 2, mask.height / 2
    offset = np.array([cx, cy]) - inverse @ np.array([cx, cy])
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return mask.transform(mask.size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR)


# -- the data set --------------------------------------------------------------------------
def _write_image(root: Path, split: str, image_id: int, char: str, seed: int, fonts: list[str]) -> None:
    rng = np.random.default_rng([seed, image_id])
    original = render_character(char, rng, fonts)
    if rng.random() < GREY_FRACTION:
        original = original.convert("L")
    resized = original.resize((20, 20), Image.Resampling.BICUBIC)
    original.save(root / split / f"{image_id}.Bmp", format="PNG")  # PNG bytes, .Bmp name: as Kaggle
    resized.save(root / f"{split}Resized" / f"{image_id}.Bmp", format="BMP")


def _write_chunk(jobs: list[tuple[str, int, str]], root: str, seed: int, fonts: list[str]) -> int:
    for split, image_id, char in jobs:
        _write_image(Path(root), split, image_id, char, seed, fonts)
    return len(jobs)


@lru_cache(maxsize=1)
def machine_fonts() -> list[str]:
    return available_fonts()


def _assign_classes(per_class: int, rng: np.random.Generator) -> list[str]:
    chars = [char for char in CLASSES for _ in range(per_class)]
    return [chars[i] for i in rng.permutation(len(chars))]


class DrawingStopped(Exception):
    """A Drawing's should_stop said so: the set was not written (its staging folder is gone)."""


@dataclass(frozen=True)
class Drawing:
    """How a set is drawn. `processes`: the workers may be processes, which only a process whose
    __main__ can be imported again may ask for (the CLI and the trainer, never Streamlit, which
    runs each page as __main__). `should_stop` is asked after every 64 images. `fonts`: the font
    files to draw in (default: the machine's, available_fonts())."""
    workers: int | None = None          # default: one per core
    fonts: tuple[str, ...] | None = None
    processes: bool = False
    progress: Callable[[int, int], None] | None = None
    should_stop: Callable[[], bool] | None = None


# Threads release the GIL in Pillow and numpy for only part of each image: about 1.9x on 2 cores,
# but under 2 cores' worth on a 16-core GPU machine, where drawing the best preset's 124,000
# characters then took over 190 s (docs/BENCHMARKS.md, GPU). Processes should scale with the cores
# (seen on 2 only: the same speed as threads there); a spawned one takes about a second to start,
# so they draw only sets this large.
PROCESSES_FROM = 20_000


def generate_demo(out: Path, train_per_class: int = 60, test_per_class: int = 20, seed: int = 0,
                  force: bool = False, drawing: Drawing = Drawing()) -> DemoSet:
    """Write the set into `out` (built in a temporary sibling folder, then renamed into place);
    DrawingStopped when the drawing's should_stop ended it first."""
    out = Path(out)
    if train_per_class < 1 or test_per_class < 0:
        raise DataError("demo needs at least 1 train image per class and 0 or more test images per class")
    if out.exists() and any(out.iterdir()) and not force:
        raise DataError(f"{out}: folder exists and is not empty (use --force to replace it)")
    rng = np.random.default_rng(seed)
    train = _assign_classes(train_per_class, rng)
    test = _assign_classes(test_per_class, rng)
    labels = {image_id: char for image_id, char in enumerate(train, start=1)}
    answers = {image_id: char for image_id, char in enumerate(test, start=len(train) + 1)}
    jobs = [("train", i, c) for i, c in labels.items()] + [("test", i, c) for i, c in answers.items()]

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        # No test images (a pre-training set): no test folders, since an empty one is an error.
        splits = ("train", "test") if answers else ("train",)
        for split in splits:
            (staging / split).mkdir()
            (staging / f"{split}Resized").mkdir()
        _render_all(jobs, staging, seed, drawing)
        write_labels(staging / LABELS_FILE, labels)
        if answers:
            write_labels(staging / ANSWERS_FILE, answers)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DemoSet(out, len(labels), len(answers), list(drawing.fonts or machine_fonts()))


def _render_all(jobs, staging: Path, seed: int, drawing: Drawing) -> None:
    chunks = [jobs[start:start + 64] for start in range(0, len(jobs), 64)]
    workers = drawing.workers or os.cpu_count() or 1
    if drawing.processes and workers > 1 and len(jobs) >= PROCESSES_FROM:
        available_fonts()  # the family names, known before they are handed to the processes
        # spawn, not fork: the trainer has CUDA and its own threads by now
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_drawing_process, initargs=(dict(_known_families),))
        try:
            return _draw_with(pool, chunks, staging, seed, drawing)
        except BrokenProcessPool:  # a __main__ that runs its work again on import: threads it is
            if drawing.should_stop and drawing.should_stop():
                raise DrawingStopped("stopped while the drawing processes ended") from None
            log.warning("drawing processes could not start; drawing with threads")
    _draw_with(ThreadPoolExecutor(workers), chunks, staging, seed, drawing)


def _draw_with(pool, chunks: list, staging: Path, seed: int, drawing: Drawing) -> None:
    """Every chunk drawn by the pool's workers (each image from its own seed: any order gives the
    same set)."""
    fonts, total, done = list(drawing.fonts or machine_fonts()), sum(map(len, chunks)), 0
    try:
        futures = [pool.submit(_write_chunk, chunk, str(staging), seed, fonts) for chunk in chunks]
        for finished in as_completed(futures):
            done += finished.result()
            if drawing.progress:
                drawing.progress(done, total)
            if drawing.should_stop and drawing.should_stop():
                raise DrawingStopped(f"stopped after {done} of {total} images")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_drawing_process(families: dict[str, str]) -> None:
    """A drawing process's start: the parent's family names, so that fonts group as they do there.
    A Stop (SIGTERM to the trainer's process group) or Ctrl-C (SIGINT to the terminal's) is the
    parent's to decide on: it asks should_stop and shuts the pool down."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _known_families.update(families)
