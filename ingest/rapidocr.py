"""RapidOCR's PP-OCRv4 models, as the ``rapidocr-onnxruntime`` wheel ships them, run on OpenVINO
or ONNX Runtime: text lines found by the detector, then read by the recogniser, line by line.

The wheel's own pipeline is not used: it reads every line twice over on a CPU (a sixth of the
speed OpenVINO gets from the same models, with bfloat16 where the CPU has it), finds lines at
the page's full size, and turns upright lines it misjudges by 180 degrees (its angle
classifier) into nothing. Its pre- and post-processing are: the detector's resize and its
boxes (``DetPreProcess``, ``DBPostProcess``), the recogniser's CTC decoding
(``CTCLabelDecode``). docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.registry import Registry

# A model: a batch in, its output out (one input, one output: PP-OCR's are).
Model = Callable[[np.ndarray], np.ndarray]
# Loads the ONNX file at a path to run on this many threads; with the metadata it carries.
Runtime = Callable[[Path, int], tuple[Model, dict[str, str]]]

RUNTIMES: Registry[Runtime] = Registry("ONNX runtime")


@RUNTIMES.register("openvino")
def openvino_model(path: Path, threads: int) -> tuple[Model, dict[str, str]]:
    """OpenVINO's CPU plugin, at its default precision: bfloat16 where the CPU computes in it
    (AMX, AVX-512 BF16), else float32."""
    import openvino

    core = openvino.Core()
    model = core.read_model(path)
    # No cache of kernels per input shape: it grew by a gigabyte a few pages of lines of
    # new widths (docs/benchmarks.md, ocr-memory), where the OCR process has 3 GiB in all.
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(model, "CPU", config | {"CPU_RUNTIME_CACHE_CAPACITY": 0})
    request = compiled.create_infer_request()
    output = compiled.outputs[0]
    info = model.get_rt_info()  # the ONNX file's metadata; an RTMap, without .get()
    framework = info["framework"].items() if "framework" in info else []
    meta = {key: value.astype(str) for key, value in framework}
    return lambda x: np.asarray(request.infer([x])[output]), meta


@RUNTIMES.register("onnxruntime")
def onnxruntime_model(path: Path, threads: int) -> tuple[Model, dict[str, str]]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return lambda x: np.asarray(session.run(None, {name: x})[0]), meta


def pick_runtime(name: str) -> str:
    """``name``, or for "auto" OpenVINO where it is installed, else ONNX Runtime."""
    if name != "auto":
        return name
    return "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"


def models_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise ImportError("rapidocr-onnxruntime is not installed")
    return Path(spec.origin).parent / "models"


DETECTOR = "ch_PP-OCRv4_det_infer.onnx"
RECOGNISER = "ch_PP-OCRv4_rec_infer.onnx"
# The recogniser reads lines 48 pixels high; a batch is padded to its widest line (batches
# of lines of like widths waste little).
LINE_HEIGHT = 48
BATCH = 6
MIN_WIDTH = 320  # the width it was trained at: shorter lines are padded to it
# Batches are padded to a multiple of this width: fewer shapes for the runtime to prepare.
WIDTH_STEP = 64
# Readings the recogniser is less sure of are dropped, as RapidOCR's text_score does.
MIN_SCORE = 0.5


@dataclass
class PageLines:
    """A page's text lines as the detector found them (corner points, pixels of ``image``,
    top down), and those read so far: index -> (text, score)."""

    image: np.ndarray
    boxes: list[np.ndarray]
    read: dict[int, tuple[str, float]] = field(default_factory=dict)

    def texts(self, indices: Sequence[int] | None = None) -> list[tuple[np.ndarray, str]]:
        """The lines read (of ``indices``), with their boxes, the unsure ones left out."""
        chosen = range(len(self.boxes)) if indices is None else indices
        return [
            (self.boxes[i], self.read[i][0])
            for i in chosen
            if i in self.read and self.read[i][1] >= MIN_SCORE and self.read[i][0]
        ]


class RapidOcr:
    """Detection and recognition with PP-OCRv4's Chinese models (they read English too)."""

    def __init__(self, runtime: str = "auto", threads: int = 1, det_side: int = 960) -> None:
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
        from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode

        self.runtime = pick_runtime(runtime)
        load = RUNTIMES[self.runtime]
        self._detect, _ = load(models_dir() / DETECTOR, threads)
        self._recognise, meta = load(models_dir() / RECOGNISER, threads)
        self._decode = CTCLabelDecode(character=meta["character"].splitlines())
        # The detector sees the page at most det_side pixels a side; the lines it finds are
        # cut from the page at its full resolution for the recogniser.
        self._prepare = DetPreProcess(det_side, "max", [0.5] * 3, [0.5] * 3)
        self._boxes = DBPostProcess(
            thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6,
            use_dilation=True, score_mode="fast",
        )  # fmt: skip
        self.steps: dict[str, float] = {}  # seconds of each step since the last reset

    def detect(self, image: Image.Image) -> PageLines:
        """The text lines of a page image, top down."""
        start = time.perf_counter()
        pixels = np.asarray(image.convert("RGB"))
        batch = self._prepare(pixels)
        boxes: list[np.ndarray] = []
        if batch is not None:
            found, _scores = self._boxes(self._detect(batch), pixels.shape[:2])
            boxes = [b for b in (_clip(box, pixels.shape) for box in found) if b is not None]
        boxes.sort(key=lambda b: (float(b[:, 1].min()), float(b[:, 0].min())))
        self._count("detect", start)
        return PageLines(pixels, boxes)

    def recognise(self, page: PageLines, indices: Sequence[int]) -> None:
        """Read the lines ``indices`` of ``page`` (those not read yet) into ``page.read``."""
        start = time.perf_counter()
        todo = [i for i in indices if i not in page.read]
        crops = {i: _crop(page.image, page.boxes[i]) for i in todo}
        todo.sort(key=lambda i: crops[i].shape[1] / crops[i].shape[0])
        for first in range(0, len(todo), BATCH):
            batch = todo[first : first + BATCH]
            widest = max(MIN_WIDTH, *(_width(crops[i]) for i in batch))
            width = WIDTH_STEP * math.ceil(widest / WIDTH_STEP)
            pixels = np.stack([_line_pixels(crops[i], width) for i in batch])
            for i, (text, score) in zip(batch, self._decode(self._recognise(pixels)), strict=True):
                page.read[i] = (text, float(score))
        self._count("recognise", start)

    def _count(self, step: str, start: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - start


def _clip(box: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A detected box inside the image, as float corners from the top left clockwise; None
    for one of at most 3 pixels a side (RapidOCR's rule)."""
    height, width = shape[:2]
    points = np.asarray(box, dtype=np.float32).reshape(4, 2)
    points[:, 0] = np.clip(points[:, 0], 0, width - 1)
    points[:, 1] = np.clip(points[:, 1], 0, height - 1)
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    top_left, bottom_left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    top_right, bottom_right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    corners = np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float32)
    if min(_side(corners, 0, 1), _side(corners, 0, 3)) <= 3:
        return None
    return corners


def _side(corners: np.ndarray, a: int, b: int) -> int:
    return int(np.linalg.norm(corners[a] - corners[b]))


def _crop(pixels: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The line inside ``corners``, straightened; a line much taller than wide (vertical
    text) turned to lie flat."""
    import cv2

    width = max(_side(corners, 0, 1), _side(corners, 2, 3))
    height = max(_side(corners, 0, 3), _side(corners, 1, 2))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    crop = cv2.warpPerspective(
        pixels,
        cv2.getPerspectiveTransform(corners, target),
        (width, height),
        borderMode=cv2.BORDER_REPLICATE,
        flags=cv2.INTER_CUBIC,
    )
    return np.rot90(crop) if height >= 1.5 * width else crop


def _width(crop: np.ndarray) -> int:
    """A line's width once LINE_HEIGHT high."""
    return math.ceil(LINE_HEIGHT * crop.shape[1] / crop.shape[0])


def _line_pixels(crop: np.ndarray, width: int) -> np.ndarray:
    """A line as the recogniser reads it: LINE_HEIGHT high, -1..1, padded right to ``width``."""
    import cv2

    resized = cv2.resize(crop, (min(width, _width(crop)), LINE_HEIGHT))
    out = np.zeros((3, LINE_HEIGHT, width), dtype=np.float32)
    out[:, :, : resized.shape[1]] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1
    return out
