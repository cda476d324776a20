"""kbqa's web UI: upload documents, then chat with answers that cite document and page.

Run by `kbqa serve` (or `streamlit run ui/app.py`); it talks to the HTTP API, whose address
and key come from KBQA_UI__API_URL and KBQA_UI__API_KEY. The conversation's id is in the
page's URL (``?c=...``) and the conversation itself is stored by the API, so a reload shows it
again, citations included. It speaks the browser's language, or the one its switch chose
(ui/lang.py).
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.i18n import Lang, has_message
from core.settings import get_settings
from core.types import MAX_QUESTION_CHARS, STRATEGIES, Answer, Job
from ui.answers import show_answer, stream_answer
from ui.client import ApiClient, ApiError
from ui.lang import choose_language, language_switch, streamlit_words, t
from ui.manage import CONVERSATION_PARAM, NEW_COLLECTION, confirmed, conversations_panel
from ui.sources import source_panel, viewing

PRODUCT = "kbqa"  # a name, the same in every language
ANSWER_FROM = "answer_from"  # session state: the collections answers came from last
DELETED_COLLECTION = "deleted_collection"  # session state: show the default one next


@st.cache_resource
def api_client(url: str, key: str | None, timeout: float, lang: Lang) -> ApiClient:
    return ApiClient(url, key, timeout, lang)


def connect(lang: Lang) -> ApiClient:
    """The API's client, asking for errors in ``lang``."""
    settings = get_settings()
    url = settings.ui.api_url or f"http://{settings.api.host}:{settings.api.port}"
    key = settings.ui.api_key or next(iter(settings.api.keys), None)
    return api_client(url, key, settings.ui.timeout_s, lang)


def ready(api: ApiClient) -> bool:
    """True when the API answers and its models are loaded; else says what is wrong."""
    try:
        health = api.health()
    except ApiError as exc:
        st.error(str(exc))
        st.button(t("try_again"))
        return False
    if health.get("status") == "ready":
        return True
    if health.get("error"):
        st.error(t("could_not_start", error=health["error"]))
    else:
        st.info(t("loading"))
        st.button(t("check_again"))
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
    new = t("new_collection")  # said now: a format_func may be called outside this run
    choice = st.sidebar.selectbox(
        t("collection"),
        [*names, NEW_COLLECTION],
        format_func=lambda name: new if name == NEW_COLLECTION else name,
        key="collection",
    )
    active: str | None = choice
    if choice == NEW_COLLECTION:
        active = st.sidebar.text_input(t("name"), placeholder=t("name_placeholder")) or None
        # Naming a new collection keeps what answers come from until it has documents.
        kept = [name for name in st.session_state.get(ANSWER_FROM, []) if name in names]
        return active, st.sidebar.multiselect(
            t("answer_from"),
            names,
            default=kept,
            key="src-new",
            placeholder=t("answer_from_placeholder"),
        )
    default = [active] if active else []
    sources = st.sidebar.multiselect(
        t("answer_from"),
        names,
        default=default,
        key=f"src-{active}",
        placeholder=t("answer_from_placeholder"),
    )
    st.session_state[ANSWER_FROM] = sources
    return active, sources


def answer_settings() -> dict[str, Any]:
    """The sidebar's answer settings, as /ask request fields."""
    with st.sidebar.expander(t("answer_settings")):
        labels = {name: t(f"strategy_{name}") for name in STRATEGIES}
        strategy = st.radio(t("strategy"), STRATEGIES, format_func=labels.get, key="strategy")
        slider = _slider
        settings: dict[str, Any] = {
            "strategy": strategy,
            "temperature": slider("temperature", 0.0, 1.5, 0.0, 0.05, help=t("temperature_help")),
            "top_p": slider("top_p", 0.05, 1.0, 1.0, 0.05),
            "top_k_tokens": slider("top_k_tokens", 0, 200, 0, 5, help=t("top_k_tokens_help")),
            "max_tokens": slider("max_tokens", 32, 1024, 384, 32),
            "repetition_penalty": slider("repetition_penalty", 1.0, 1.5, 1.1, 0.05),
        }
        seed = st.number_input(
            t("seed"), min_value=0, max_value=2**31, value=None, key="seed", placeholder=t("none")
        )
        stop = st.text_input(t("stop"), key="stop", placeholder=t("stop_placeholder"))
        banned = st.text_input(t("bad_words"), key="bad_words", placeholder=t("comma_separated"))
    if seed is not None:
        settings["seed"] = int(seed)
    if stops := _listed(stop.replace("\\n", "\n"), strip=" "):  # "\n\n" is a stop
        settings["stop"] = stops[:4]
    if words := _listed(banned):
        settings["bad_words"] = words
    return settings


def _slider(key: str, low: float, high: float, value: float, step: float, **kwargs: Any) -> Any:
    """A slider of the answer settings, labelled by the catalog's ``ui.<key>``."""
    return st.slider(t(key), low, high, value, step, key=key, **kwargs)


def _listed(text: str, strip: str | None = None) -> list[str]:
    """The comma-separated items of ``text``, trimmed of ``strip`` (white space), none empty."""
    return [item for item in (part.strip(strip) for part in text.split(",")) if item]


def upload_panel(api: ApiClient, collection: str | None) -> None:
    round_ = st.session_state.setdefault("upload_round", 0)
    # No ``type=``: Streamlit would refuse other files itself, in English ("application/zip
    # files are not allowed."). The API refuses them instead, naming the file and what kbqa
    # reads, in the UI's language; the uploader's line lists the types (ui/lang.py).
    files = st.sidebar.file_uploader(
        t("add_documents"),
        accept_multiple_files=True,
        key=f"files-{round_}",
    )
    if files and st.sidebar.button(t("index"), type="primary", disabled=collection is None):
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
            report.append(("error", f"{exc} {hint(exc.reason)}".strip()))
    bars = {job.id: st.sidebar.progress(0.0, text=_progress(job)) for job in jobs}
    pending = {job.id: job for job in jobs}
    while pending:
        time.sleep(0.2)
        for job_id in list(pending):
            job = api.job(job_id)
            bars[job_id].progress(_fraction(job), text=_progress(job))
            if job.finished_at is not None:
                report.append(_outcome(job))
                del pending[job_id]
    return report


OCR_SHARE = 0.85


def _fraction(job: Job) -> float:
    """How far the progress bar is: a scan's pages take most of its time (seconds a page,
    against a second for all its chunks), so OCR fills the bar to :data:`OCR_SHARE`."""
    if job.finished_at is not None:
        return 1.0
    start = OCR_SHARE if job.pages_ocr_total else 0.1
    if job.chunks_total:
        return start + (1 - start) * job.chunks_embedded / job.chunks_total
    if job.pages_ocr_total:
        return 0.05 + (OCR_SHARE - 0.05) * job.pages_ocr_done / job.pages_ocr_total
    return 0.05 if job.state == "running" else 0.0


def _progress(job: Job) -> str:
    """The progress bar's line: the file, and how far it is."""
    return t("upload_progress", filename=job.filename, stage=_stage(job))


def _stage(job: Job) -> str:
    if job.state == "queued":
        return t("upload_queued")
    if job.chunks_total:
        return t("upload_embedded", done=job.chunks_embedded, total=job.chunks_total)
    if job.pages_ocr_total and not job.pages_parsed:
        return t("upload_ocr", done=job.pages_ocr_done, total=job.pages_ocr_total)
    return t("upload_parsed", pages=job.pages_parsed) if job.pages_parsed else t("upload_parsing")


def hint(reason: str | None) -> str:
    """What to do about a file refused for ``reason`` ('encrypted', ...); empty for others."""
    if reason is None or not has_message(f"ui.hint_{reason}"):
        return ""
    return t(f"hint_{reason}", types=t("document_types"))


def _outcome(job: Job) -> tuple[str, str]:
    if job.error is not None:  # the API says it in the UI's language (Accept-Language)
        return "error", f"{job.error.message} {hint(job.error.reason)}".strip()
    if job.duplicate:
        return "info", t("upload_duplicate", filename=job.filename, collection=job.collection)
    doc = job.document
    assert doc is not None
    return "success", t("upload_indexed", filename=doc.filename, pages=doc.pages, chunks=doc.chunks)


# -- main area ----------------------------------------------------------------------------------
def documents_panel(api: ApiClient, collection: str | None) -> None:
    if collection is None:
        return
    docs = api.documents(collection)
    with st.expander(t("documents_in", collection=collection, count=len(docs)), expanded=not docs):
        if not docs:
            st.caption(t("no_documents", types=t("document_types")))
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
        columns = {column: t(f"column_{column}") for column in rows[0]}
        st.dataframe(rows, hide_index=True, column_config=columns)
        target = st.selectbox(
            t("delete_document"),
            docs,
            index=None,
            format_func=lambda d: d["filename"],
            placeholder=t("choose_one"),
        )
        if target is not None and confirmed(
            t("delete_document_button", filename=target["filename"]),
            t("delete_document_question", filename=target["filename"], collection=collection),
            key=f"delete-document-{target['id']}",
        ):
            api.delete_document(target["id"], collection)
            st.toast(t("deleted_document", filename=target["filename"]))
            st.rerun()
        if confirmed(
            t("delete_collection_button", collection=collection),
            t("delete_collection_question", collection=collection, count=len(docs)),
            key=f"delete-collection-{collection}",
        ):
            api.delete_collection(collection)
            st.session_state[DELETED_COLLECTION] = True
            st.toast(t("deleted_collection", collection=collection))
            st.rerun()


def messages(api: ApiClient) -> list[dict[str, Any]]:
    """This conversation's messages, loaded from the API when the URL names another one."""
    conversation_id = st.query_params.get(CONVERSATION_PARAM)
    cached = st.session_state.get("conversation")
    if cached is None or cached["id"] != conversation_id:
        loaded: list[dict[str, Any]] = []
        if conversation_id:
            try:
                stored = api.conversation(conversation_id)
                loaded = [m.model_dump() for m in stored.messages]
            except ApiError as exc:
                st.warning(f"{exc} {t('new_conversation_instead')}")
                del st.query_params[CONVERSATION_PARAM]
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
        t("ask_placeholder", limit=f"{MAX_QUESTION_CHARS:,}"),
        max_chars=MAX_QUESTION_CHARS,
        disabled=not sources,
    )
    if not question:
        return
    conversation = st.session_state["conversation"]
    if not conversation["id"]:
        new_id: str = api.new_conversation().id
        conversation["id"] = st.query_params[CONVERSATION_PARAM] = new_id
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
    st.toast(t("feedback_thanks"))


def main() -> None:
    lang = choose_language()
    st.set_page_config(page_title=PRODUCT, page_icon=":material/menu_book:", layout="wide")
    st.title(PRODUCT, anchor=False)
    st.caption(t("tagline"))
    streamlit_words()
    language_switch()
    api = connect(lang)
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
