"""The source viewer: a cited page beside the chat, the passage highlighted on it, and the
original file to download. The API draws the page (GET /documents/{id}/pages/{n}); the boxes
of the citation (fractions of the page) are painted over it here."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image, ImageDraw

from core.types import Box, Citation
from ui.client import ApiClient, ApiError
from ui.lang import t, ui_lang

PAGE_WIDTH = 1000  # pixels: sharp in a column of a wide layout, and cached by the API
FILL = (255, 214, 0, 80)  # a highlighter's yellow, the text still readable under it
EDGE = (230, 140, 0, 255)
VIEWING = "viewing"  # session state: the citation shown, as a dict


def open_source(citation: Citation) -> None:
    """Show ``citation`` in the viewer (a button's callback: runs before the rerun)."""
    st.session_state[VIEWING] = citation.model_dump()


def close_source() -> None:
    st.session_state.pop(VIEWING, None)


def viewing() -> Citation | None:
    shown = st.session_state.get(VIEWING)
    return Citation.model_validate(shown) if shown else None


def highlight(png: bytes, boxes: list[Box], pad: int = 2) -> Image.Image:
    """A page image with ``boxes`` painted over it as a highlighter would."""
    page = Image.open(io.BytesIO(png)).convert("RGBA")
    layer = Image.new("RGBA", page.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    width, height = page.size
    for box in boxes:
        rect = (box.x0 * width - pad, box.y0 * height - pad,
                box.x1 * width + pad, box.y1 * height + pad)  # fmt: skip
        draw.rectangle(rect, fill=FILL, outline=EDGE, width=2)
    return Image.alpha_composite(page, layer).convert("RGB")


@st.cache_data(max_entries=64, show_spinner=False)
def _page(_api: ApiClient, document_id: str, collection: str, page: int, width: int) -> bytes:
    return _api.page_image(document_id, page, width, collection)


def source_panel(api: ApiClient, citation: Citation) -> None:
    """The cited page(s) with the passage highlighted, the passage, and the original."""
    head, close = st.columns([3, 1], vertical_alignment="center")
    head.markdown(f"**{citation.label_in(ui_lang())}**")
    close.button(t("close"), key="close-source", on_click=close_source, icon=":material/close:")
    if citation.section is None:
        for number in range(citation.page, citation.page_end + 1):
            _show_page(api, citation, number)
    if heading := citation.heading_apart:
        st.caption(heading)  # what the passage is under: it may not name its subject
    st.markdown("> " + citation.text.replace("\n", "\n> "))
    st.download_button(
        t("download_original"),
        data=_original(api, citation),
        file_name=citation.filename,
        key="download-original",
        icon=":material/download:",
        on_click="ignore",
    )


def _show_page(api: ApiClient, citation: Citation, number: int) -> None:
    try:
        png = _page(api, citation.document_id, citation.collection, number, PAGE_WIDTH)
    except ApiError as exc:
        st.warning(t("page_not_shown", page=number, error=exc))
        return
    boxes = [box for box in citation.boxes if box.page == number]
    page = highlight(png, boxes)
    if not boxes:
        st.image(page, caption=t("page_unplaced", page=number),
                 width="stretch", output_format="PNG")  # fmt: skip
        return
    # A whole page is too small to read in a column: the passage's part of it, and the page.
    st.image(
        around(page, boxes), caption=t("page", page=number), width="stretch", output_format="PNG"
    )
    with st.expander(t("whole_page")):
        st.image(page, width="stretch", output_format="PNG")


def around(page: Image.Image, boxes: list[Box], margin: float = 0.04) -> Image.Image:
    """The part of ``page`` that holds ``boxes``, ``margin`` (of the page's width) around."""
    left = max(0.0, min(box.x0 for box in boxes) - margin)
    right = min(1.0, max(box.x1 for box in boxes) + margin)
    top = max(0.0, min(box.y0 for box in boxes) - margin)
    bottom = min(1.0, max(box.y1 for box in boxes) + margin)
    width, height = page.size
    return page.crop(
        (round(left * width), round(top * height), round(right * width), round(bottom * height))
    )


def _original(api: ApiClient, citation: Citation) -> Callable[[], Any]:
    """The original's bytes, fetched only when the button is clicked."""

    def fetch() -> bytes:
        try:
            return api.original(citation.document_id, citation.collection)
        except ApiError as exc:  # a download cannot show an error: the file says it instead
            return f"{exc}\n".encode()

    return fetch
