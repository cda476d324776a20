"""kbqa's web UI: upload documents, then chat with answers that cite document and page.

Run by `kbqa serve` (or `streamlit run ui/app.py`); it talks to the HTTP API, whose address
and key come from KBQA_UI__API_URL and KBQA_UI__API_KEY. The conversation's id is in the
page's URL (``?c=...``) and the conversation itself is stored by the API, so a reload shows it
again, citations included.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.files import DOCUMENT_SUFFIXES, DOCUMENT_TYPES_TEXT
from core.settings import get_settings
from core.types import MAX_QUESTION_CHARS, STRATEGIES, Answer, Job
from ui.answers import show_answer, stream_answer
from ui.client import ApiClient, ApiError
from ui.manage import confirmed, conversations_panel
from ui.sources import source_panel, viewing

NEW_COLLECTION = "New collection…"
ANSWER_FROM = "answer_from"  # session state: the collections answers came from last
DELETED_COLLECTION = "deleted_collection"  # session state: show the default one next
HINTS = {
    "encrypted": "Remove its password and upload it again.",
    "needs_ocr": "It is a scan and the server has no OCR engine: install one there (pip install "
    "rapidocr-onnxruntime, or Debian's tesseract-ocr) or run OCR on the file first (ocrmypdf).",
    "corrupt": "The file is damaged or is not what its name says.",
    "unsupported_type": f"kbqa reads {DOCUMENT_TYPES_TEXT}.",
    "empty": "There is no text in it.",
}
GREEDY_HELP = (
    "0 is greedy decoding, the default: the model's most likely words, the same answer every "
    "time, and the fewest words that are not in the sources."
)
STRATEGY_LABELS = {
    "zero-shot": "Zero-shot: instructions only",
    "few-shot": "Few-shot: with worked examples",
    "chain-of-thought": "Chain-of-thought: reasons first",
}


@st.cache_resource
def api_client(url: str, key: str | None, timeout: float) -> ApiClient:
    return ApiClient(url, key, timeout)


def connect() -> ApiClient:
    settings = get_settings()
    url = settings.ui.api_url or f"http://{settings.api.host}:{settings.api.port}"
    key = settings.ui.api_key or next(iter(settings.api.keys), None)
    return api_client(url, key, settings.ui.timeout_s)


def ready(api: ApiClient) -> bool:
    """True when the API answers and its models are loaded; else says what is wrong."""
    try:
        health = api.health()
    except ApiError as exc:
        st.error(str(exc))
        st.button("Try again")
        return False
    if health.get("status") == "ready":
        return True
    if health.get("error"):
        st.error(f"kbqa could not start: {health['error']}")
    else:
        st.info("The models are still loading. This takes a minute the first time.")
        st.button("Check again")
    return False


# -- sidebar ------------------------------------------------------------------------------------
def choose_collections(api: ApiClient) -> tuple[str | None, list[str]]:
    """The collection uploads go to, and the collections answers come from."""
    listing = api.collections()
    names = [c["name"] for c in listing["collections"]]
    if listing["default"] not in names:
        names.insert(0, listing["default"])
    if st.session_state.pop(DELETED_COLLECTION, False):  # before the selectbox is drawn
        st.session_state["collection"] = listing["default"]
    choice = st.sidebar.selectbox("Collection", [*names, NEW_COLLECTION], key="collection")
    active: str | None = choice
    if choice == NEW_COLLECTION:
        active = st.sidebar.text_input("Name", placeholder="letters, digits, - and _") or None
        # Naming a new collection keeps what answers come from until it has documents.
        kept = [name for name in st.session_state.get(ANSWER_FROM, []) if name in names]
        return active, st.sidebar.multiselect("Answer from", names, default=kept, key="src-new")
    default = [active] if active else []
    sources = st.sidebar.multiselect("Answer from", names, default=default, key=f"src-{active}")
    st.session_state[ANSWER_FROM] = sources
    return active, sources


def answer_settings() -> dict[str, Any]:
    """The sidebar's answer settings, as /ask request fields."""
    with st.sidebar.expander("Answer settings"):
        strategy = st.radio(
            "Prompt strategy", STRATEGIES, format_func=STRATEGY_LABELS.get, key="strategy"
        )
        settings: dict[str, Any] = {
            "strategy": strategy,
            "temperature": st.slider(
                "Temperature", 0.0, 1.5, 0.0, 0.05, key="temperature", help=GREEDY_HELP
            ),
            "top_p": st.slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="top_p"),
            "top_k_tokens": st.slider(
                "Top-k", 0, 200, 0, 5, key="top_k_tokens", help="The k most likely tokens; 0: all."
            ),
            "max_tokens": st.slider("Max tokens", 32, 1024, 384, 32, key="max_tokens"),
            "repetition_penalty": st.slider(
                "Repetition penalty", 1.0, 1.5, 1.1, 0.05, key="repetition_penalty"
            ),
        }
        seed = st.number_input(
            "Seed", min_value=0, max_value=2**31, value=None, key="seed", placeholder="none"
        )
        stop = st.text_input(
            "Stop sequences", key="stop", placeholder="comma-separated; \\n is a line break"
        )
        banned = st.text_input(
            "Never write these words", key="bad_words", placeholder="comma-separated"
        )
    if seed is not None:
        settings["seed"] = int(seed)
    if stops := _listed(stop.replace("\\n", "\n"), strip=" "):  # "\n\n" is a stop
        settings["stop"] = stops[:4]
    if words := _listed(banned):
        settings["bad_words"] = words
    return settings


def _listed(text: str, strip: str | None = None) -> list[str]:
    """The comma-separated items of ``text``, trimmed of ``strip`` (white space), none empty."""
    return [item for item in (part.strip(strip) for part in text.split(",")) if item]


def upload_panel(api: ApiClient, collection: str | None) -> None:
    round_ = st.session_state.setdefault("upload_round", 0)
    files = st.sidebar.file_uploader(
        "Add documents",
        type=[suffix.lstrip(".") for suffix in DOCUMENT_SUFFIXES],
        accept_multiple_files=True,
        key=f"files-{round_}",
    )
    if files and st.sidebar.button("Index", type="primary", disabled=collection is None):
        st.session_state["ingest_report"] = ingest(api, files, collection or "")
        st.session_state["upload_round"] = round_ + 1  # a fresh, empty uploader
        st.rerun()
    for kind, text in st.session_state.get("ingest_report", []):
        getattr(st.sidebar, kind)(text)


def ingest(api: ApiClient, files: list[UploadedFile], collection: str) -> list[tuple[str, str]]:
    """Upload each file as its own job, show progress until all are done; returns messages."""
    report: list[tuple[str, str]] = []
    jobs: list[Job] = []
    for file in files:
        try:  # one request per file: a bad file is refused alone
            jobs.append(api.upload(file.name, file.getvalue(), collection))
        except ApiError as exc:
            report.append(("error", f"{exc} {HINTS.get(exc.reason or '', '')}".strip()))
    bars = {job.id: st.sidebar.progress(0.0, text=f"{job.filename}: queued") for job in jobs}
    pending = {job.id: job for job in jobs}
    while pending:
        time.sleep(0.2)
        for job_id in list(pending):
            job = api.job(job_id)
            bars[job_id].progress(_fraction(job), text=f"{job.filename}: {_stage(job)}")
            if job.finished_at is not None:
                report.append(_outcome(job))
                del pending[job_id]
    return report


def _fraction(job: Job) -> float:
    if job.finished_at is not None:
        return 1.0
    if job.chunks_total:
        return 0.1 + 0.9 * job.chunks_embedded / job.chunks_total
    if job.pages_ocr_total:  # OCR is most of the time a scan takes
        return 0.05 + 0.05 * job.pages_ocr_done / job.pages_ocr_total
    return 0.05 if job.state == "running" else 0.0


def _stage(job: Job) -> str:
    if job.state == "queued":
        return "queued"
    if job.chunks_total:
        return f"embedded {job.chunks_embedded} of {job.chunks_total} chunks"
    if job.pages_ocr_total and not job.pages_parsed:
        return f"reading scanned pages: {job.pages_ocr_done} of {job.pages_ocr_total}"
    return f"parsed {job.pages_parsed} pages" if job.pages_parsed else "parsing"


def _outcome(job: Job) -> tuple[str, str]:
    if job.error is not None:
        hint = HINTS.get(job.error.reason or "", "")
        return "error", f"{job.error.message} {hint}".strip()
    if job.duplicate:
        return "info", f"{job.filename} is already in '{job.collection}': not indexed again."
    doc = job.document
    assert doc is not None
    return "success", f"{doc.filename}: {doc.pages} pages, {doc.chunks} passages indexed."


# -- main area ----------------------------------------------------------------------------------
def documents_panel(api: ApiClient, collection: str | None) -> None:
    if collection is None:
        return
    docs = api.documents(collection)
    with st.expander(f"Documents in **{collection}** ({len(docs)})", expanded=not docs):
        if not docs:
            st.caption("None yet: add PDFs, text or Markdown files in the sidebar.")
            return
        rows = [
            {
                "document": d["filename"],
                "pages": d["pages"],
                "passages": d["chunks"],
                "added": d["added_at"][:16].replace("T", " "),
            }
            for d in docs
        ]
        st.dataframe(rows, hide_index=True)
        target = st.selectbox(
            "Delete a document",
            docs,
            index=None,
            format_func=lambda d: d["filename"],
            placeholder="Choose one…",
        )
        if target is not None and confirmed(
            f"Delete {target['filename']}",
            f"Delete {target['filename']} from '{collection}', with its passages and its "
            "original file?",
            key=f"delete-document-{target['id']}",
        ):
            api.delete_document(target["id"], collection)
            st.toast(f"Deleted {target['filename']}")
            st.rerun()
        if confirmed(
            f"Delete the collection '{collection}'",
            f"Delete '{collection}' and its {len(docs)} documents, with their passages and "
            "original files?",
            key=f"delete-collection-{collection}",
        ):
            api.delete_collection(collection)
            st.session_state[DELETED_COLLECTION] = True
            st.toast(f"Deleted the collection '{collection}'")
            st.rerun()


def messages(api: ApiClient) -> list[dict[str, Any]]:
    """This conversation's messages, loaded from the API when the URL names another one."""
    conversation_id = st.query_params.get("c")
    cached = st.session_state.get("conversation")
    if cached is None or cached["id"] != conversation_id:
        loaded: list[dict[str, Any]] = []
        if conversation_id:
            try:
                stored = api.conversation(conversation_id)
                loaded = [m.model_dump() for m in stored.messages]
            except ApiError as exc:
                st.warning(f"{exc} Starting a new conversation.")
                st.query_params.clear()
                conversation_id = None
        cached = st.session_state["conversation"] = {"id": conversation_id, "messages": loaded}
    return cached["messages"]  # type: ignore[no-any-return]


def chat(api: ApiClient, sources: list[str], settings: dict[str, Any], area: Any) -> None:
    """The conversation in ``area`` (the main column), its input pinned below the page."""
    history = messages(api)
    conversation_id = st.session_state["conversation"]["id"]
    with area:
        for n, message in enumerate(history):
            with st.chat_message(message["role"]):
                if message.get("answer"):
                    stored = Answer.model_validate(message["answer"])
                    show_answer(stored, n)
                    rate(api, stored, f"rate-{n}", conversation_id)
                else:
                    st.markdown(message["content"])
    question = st.chat_input(
        f"Ask a question about your documents (at most {MAX_QUESTION_CHARS:,} characters)",
        max_chars=MAX_QUESTION_CHARS,
        disabled=not sources,
    )
    if not question:
        return
    conversation = st.session_state["conversation"]
    if not conversation["id"]:
        new_id: str = api.new_conversation().id
        conversation["id"] = st.query_params["c"] = new_id
    with area, st.chat_message("user"):
        st.markdown(question)
    with area, st.chat_message("assistant"):
        body = {
            "question": question,
            "collections": sources,
            "conversation_id": conversation["id"],
            **settings,
        }
        answer = stream_answer(api, body, len(history) + 1)
        if answer is not None:  # the key it will have in the history, so the choice stays
            rate(api, answer, f"rate-{len(history) + 1}", conversation["id"])
    if answer is not None:
        history.append({"role": "user", "content": question})
        history.append({"role": "assistant", "content": answer.answer, "answer": answer})


def rate(api: ApiClient, answer: Answer, key: str, conversation_id: str | None) -> None:
    """Thumbs up or down under an answer, sent to POST /feedback once per change of mind."""
    choice = st.feedback("thumbs", key=key)
    sent = f"{key}-sent"
    if choice is None or st.session_state.get(sent) == choice:
        return
    try:
        api.feedback("up" if choice == 1 else "down", answer, conversation_id)
    except ApiError as exc:
        st.warning(str(exc))
        return
    st.session_state[sent] = choice
    st.toast("Thank you: the feedback is kept for the next evaluation.")


def main() -> None:
    st.set_page_config(page_title="kbqa", page_icon=":material/menu_book:", layout="wide")
    st.title("kbqa", anchor=False)
    st.caption("Answers from your documents, with the page each one comes from.")
    api = connect()
    if not ready(api):
        return
    try:
        collection, sources = choose_collections(api)
        settings = answer_settings()
        upload_panel(api, collection)
        conversations_panel(api)
        shown = viewing()
        if shown is None:
            area = st.container()
        else:  # the cited page beside the chat
            area, side = st.columns(2, gap="large")
            with side:
                source_panel(api, shown)
        with area:
            documents_panel(api, collection)
        chat(api, sources, settings, area)
    except ApiError as exc:  # the API went away mid-run: say so, never a stack trace
        st.error(str(exc))


main()
