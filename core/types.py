"""The small data types that flow between stages: files -> pages -> chunks -> hits -> answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.i18n import DEFAULT_LANG, Lang, message

Strategy = Literal["zero-shot", "few-shot", "chain-of-thought"]
STRATEGIES: tuple[Strategy, ...] = ("zero-shot", "few-shot", "chain-of-thought")
PAGE_SEPARATOR = "\n\n"
DocumentKind = Literal["pdf", "text", "markdown", "docx", "pptx", "html"]
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# A collection (knowledge base) name, as request schemas declare it.
CollectionName = Annotated[
    str, Field(pattern=COLLECTION_PATTERN, description="1-64 letters, digits, '-' or '_'.")
]


class _Model(BaseModel):
    # A misspelt field is a bug, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


SECTION_DESCRIPTION = (
    "The heading of the section the text is under, for files without pages (Word, web "
    "pages): there 'page' counts sections. None for PDFs, slides and text files."
)


def place(
    page: int,
    page_end: int,
    section: str | None = None,
    short: bool = False,
    lang: Lang = DEFAULT_LANG,
) -> str:
    """Where a passage is, for people: 'page 3', 'pages 3-4' ('p. 3', 'pp. 3-4' when
    ``short``), or 'section "Scope"' in a file without pages; in ``lang``."""
    if section:
        return message("place.section", lang, section=section)
    form = "short" if short else "long"
    if page_end == page:
        return message(f"place.{form}_page", lang, page=page)
    return message(f"place.{form}_pages", lang, page=page, page_end=page_end)


class Box(_Model):
    """A rectangle on a page, as fractions of the page's width and height, origin top-left:
    where a line (or the part of it a passage covers) is printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page: int = Field(description="1-based page number.")
    x0: float = Field(ge=0, le=1)
    y0: float = Field(ge=0, le=1)
    x1: float = Field(ge=0, le=1)
    y1: float = Field(ge=0, le=1)
    start: int = Field(0, ge=0, description="The passage's first character this box covers.")
    end: int = Field(0, ge=0, description="The passage's character after the last it covers.")


HEADING_DESCRIPTION = (
    "The heading the passage is under: a PDF's line set larger than its body text (see "
    "ingest/headings.py), or a Word or web page's section heading. Search reads it with the "
    "text. None where there is none, and for documents indexed before kbqa kept headings."
)
BOXES_DESCRIPTION = (
    "Where the passage is printed: a box per line it covers, on each page it spans, as "
    "fractions of the page (origin top-left). Empty for files without pages (Word, web pages, "
    "text) and for documents indexed before kbqa kept boxes."
)


PageTurn = Literal[0, 90, 180, 270]  # degrees clockwise a page is shown turned (a PDF's /Rotate)


class TextLine(_Model):
    """One printed line of a page as its text layer (or OCR) reads it, with its box; for
    the parts of a line a passage covers, ``lefts``/``rights`` hold each character's left
    and right edge (uint16 fractions of the page width, native byte order); empty: OCR, where
    the characters are taken as evenly spread over the line.

    ``box`` and the edges are of the page upright, as its text runs; ``turn`` is how far the
    page is shown turned clockwise (a PDF page's ``/Rotate``), so a box drawn on the page as
    shown is turned as much (OCR reads the page as shown: 0)."""

    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions, origin top-left
    lefts: bytes = b""
    rights: bytes = b""
    turn: PageTurn = 0
    size: float = Field(
        0.0,
        ge=0,
        description="The type's size in points, its characters' most common (a PDF's text "
        "layer); 0 where none is known (OCR), and the box's height stands in.",
    )


class Page(_Model):
    """The cleaned text of one page; ``number`` is 1-based as printed by PDF viewers.

    Files without pages (Word, HTML) have one per section, with its heading as ``section``.
    """

    number: int
    text: str
    section: str | None = Field(None, description=SECTION_DESCRIPTION)
    lines: list[TextLine] = Field(
        default_factory=list,
        description="The page's printed lines with their boxes (PDFs): what chunks' boxes "
        "are found in. Empty for files without pages.",
    )


class ParsedDocument(_Model):
    """A file after parsing, before chunking. ``id`` is the sha256 of the file's bytes."""

    id: str
    filename: str
    kind: DocumentKind
    size_bytes: int
    pages: list[Page]

    @property
    def text(self) -> str:
        """The document's text: its pages joined by :data:`PAGE_SEPARATOR`."""
        return PAGE_SEPARATOR.join(page.text for page in self.pages)

    def page_starts(self) -> list[int]:
        """Offset in :attr:`text` where each page begins."""
        starts, offset = [], 0
        for page in self.pages:
            starts.append(offset)
            offset += len(page.text) + len(PAGE_SEPARATOR)
        return starts


class Chunk(_Model):
    """A passage of a document with its exact place: pages and character offsets.

    ``char_start``/``char_end`` index into the document's text, i.e. its page texts
    joined in order (see :attr:`ParsedDocument.text`).
    """

    id: int | None = None
    document_id: str
    ordinal: int
    text: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    section: str | None = Field(None, description=SECTION_DESCRIPTION)
    heading: str | None = Field(None, description=HEADING_DESCRIPTION)
    boxes: list[Box] = Field(default_factory=list, description=BOXES_DESCRIPTION)

    @property
    def indexed_text(self) -> str:
        """What search reads of the chunk (BM25 and the embedder): its text under its heading,
        unless the text begins with it. A passage deep in a section seldom names its subject."""
        heading = heading_not_in(self.heading, self.text)
        return f"{heading}\n{self.text}" if heading else self.text


def heading_not_in(heading: str | None, text: str) -> str | None:
    """``heading``, unless ``text`` begins with it (a chunk cut at its heading holds it)."""
    return heading if heading and not text.startswith(heading) else None


class Document(_Model):
    """A document as stored in a collection."""

    id: str
    collection: str
    filename: str
    kind: str
    size_bytes: int
    pages: int
    chunks: int
    added_at: datetime


class Hit(_Model):
    """A retrieved chunk with its score and the ranks that led to it."""

    chunk: Chunk
    collection: str
    filename: str
    score: float
    scores: dict[str, float] = Field(default_factory=dict)

    def source(self) -> dict[str, str | int | float]:
        """Where the hit comes from, flat: for JSON output and LangChain metadata."""
        return {
            "document_id": self.chunk.document_id,
            "filename": self.filename,
            "collection": self.collection,
            "page": self.chunk.page_start,
            "page_end": self.chunk.page_end,
            **({"section": self.chunk.section} if self.chunk.section else {}),
            "score": self.score,
        }


EvidenceSignal = Literal["rerank", "coverage", "cosine"]


class Evidence(_Model):
    """How well the best retrieved passage matches a question (retrieval/evidence.py), and
    the threshold it is held against: below it, the question is refused unasked."""

    model_config = ConfigDict(frozen=True)

    signal: EvidenceSignal
    score: float
    threshold: float = Field(description="0: never weak.")
    sure_threshold: float = Field(0.0, description="0: never sure.")

    @property
    def weak(self) -> bool:
        """Too weak to answer from: the question is refused without asking the model."""
        return self.threshold > 0 and self.score < self.threshold

    @property
    def sure(self) -> bool:
        """Strong enough that a refusal is the model's mistake: it is asked again."""
        return self.sure_threshold > 0 and self.score >= self.sure_threshold


MAX_QUESTION_CHARS = 4000  # a question longer than this is refused, whichever way it comes


class Citation(_Model):
    """Source ``[n]`` of an answer."""

    n: int
    document_id: str
    collection: str
    filename: str
    page: int
    page_end: int
    section: str | None = Field(None, description=SECTION_DESCRIPTION)
    heading: str | None = Field(None, description=HEADING_DESCRIPTION)
    boxes: list[Box] = Field(default_factory=list, description=BOXES_DESCRIPTION)
    text: str
    score: float
    truncated: bool = Field(
        False,
        description="The passage did not fit the model's context window whole: the model read "
        "only this beginning of it, which ends with '[…truncated]'.",
    )

    @property
    def heading_apart(self) -> str | None:
        """The heading to show above :attr:`text`: none where the text begins with it, or it
        is the section the label already names."""
        heading = heading_not_in(self.heading, self.text)
        return heading if heading != self.section else None

    @property
    def pages(self) -> str:
        """``p. 3``, ``pp. 3-4`` for a passage that runs across pages, or ``section "Scope"``
        in a file without pages (Word, web pages)."""
        return place(self.page, self.page_end, self.section, short=True)

    @property
    def label(self) -> str:
        """How the source is shown to people: ``[1] report.pdf, p. 3``."""
        return self.label_in(DEFAULT_LANG)

    def label_in(self, lang: Lang) -> str:
        """:attr:`label` in ``lang``: ``[1] report.pdf，第 3 页``."""
        where = place(self.page, self.page_end, self.section, short=True, lang=lang)
        return message("place.citation", lang, n=self.n, filename=self.filename, where=where)


# A word an answer must never contain: not blank, at most 64 characters.
BannedWord = Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")]
# A stop sequence is often white space ("\n\n"): kept as sent, even by requests that strip.
StopSequence = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=1, max_length=64)
]


class Sampling(_Model):
    """Per-request decoding settings; None keeps the server's configured value."""

    temperature: float | None = Field(None, ge=0, le=2, description="0 is greedy decoding.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    top_k_tokens: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Sample from the k most likely tokens only (top-k sampling); 0: from all. "
        "Named apart from top_k, the number of passages retrieved.",
    )
    max_tokens: int | None = Field(None, gt=0, le=8192, description="Most tokens to generate.")
    seed: int | None = Field(
        None, ge=-(2**63), lt=2**63, description="Seed for reproducible sampling."
    )
    stop: list[StopSequence] | None = Field(
        None, max_length=4, description="Strings that end the answer."
    )
    repetition_penalty: float | None = Field(
        None, ge=0.5, le=2, description="Above 1 discourages repeating tokens (1: off)."
    )
    bad_words: list[BannedWord] | None = Field(
        None,
        max_length=32,
        description="Words the answer must never contain (whole words, any case). An answer "
        "that cannot avoid one is withheld, and its guard says so.",
    )


class Turn(_Model):
    """One earlier message of a conversation, for follow-up questions."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)


GuardReason = Literal["repetition", "banned_word", "refusal"]


class Discard(_Model):
    """In an answer stream: drop the text received so far, the answer starts again."""

    reason: GuardReason
    message: str


class GuardEvent(_Model):
    """One generation attempt the output guard stopped."""

    reason: GuardReason
    seq_rep_4: float | None = Field(
        None, description="Share of repeated 4-grams among the recent tokens, for repetition."
    )
    word: str | None = Field(None, description="The banned word the text contained.")


class Guard(_Model):
    """What the output guard did to an answer."""

    action: Literal["retried", "truncated", "withheld"] = Field(
        description="'retried': a later attempt gave the answer; 'truncated': the model "
        "looped again and the answer is cut where the loop began; 'withheld': it kept "
        "writing a banned word, so its text is not returned."
    )
    attempts: int = Field(description="Generation attempts made, the last one included.")
    events: list[GuardEvent] = Field(description="The attempts stopped, in order.")

    def summary(self, lang: Lang = DEFAULT_LANG) -> str:
        """What the guard did, in a sentence for people, in ``lang``."""
        why = [
            message(
                f"guard.{e.reason}", lang, seq_rep_4=f"{e.seq_rep_4 or 0:.2f}", word=repr(e.word)
            )
            for e in self.events
        ]
        done = message(f"guard.{self.action}", lang, attempts=self.attempts)
        said = message("guard.then", lang).join(why)
        return message("guard.summary", lang, why=f"{said[:1].upper()}{said[1:]}", done=done)


class Answer(_Model):
    """A grounded answer with its sources and how long each stage took (seconds)."""

    question: str
    search_query: str | None = Field(
        None,
        description="What the documents were searched for: the question, or a follow-up "
        "rewritten with the conversation into a question that stands alone, or, where nothing "
        "could rewrite it, the follow-up after the question before it (searched alone too).",
    )
    answer: str
    reasoning: str | None = None
    grounded: bool
    support: float = Field(1.0, description="Share of the answer's new words the sources hold.")
    evidence: float | None = Field(
        None,
        description="How well the best passage matched the question (its MaxSim score, or the "
        "share of the question's terms it holds); below the threshold the question is refused "
        "without asking the model.",
    )
    unsupported_answer: str | None = Field(
        None, description="What the model said, when the sources did not support it."
    )
    citations: list[Citation]
    strategy: Strategy
    model: str
    timings: dict[str, float] = Field(default_factory=dict)
    guard: Guard | None = Field(
        None, description="Set when the output guard stopped the model (repetition, a banned word)."
    )
    note: str | None = Field(
        None,
        description="What a person should know of the answer, in the question's language: the "
        "entity a follow-up's pronoun was taken for when two named earlier fit "
        "('Assuming “Tesla” from earlier.'), and that an answer only says the question again.",
    )


# An answer as it streams: text pieces, a Discard when the text so far is dropped, the Answer.
AnswerItem = str | Discard | Answer


class Stage(_Model):
    """In an answer stream that asks for them: what the server does now, for a status line."""

    stage: Literal["searching", "writing"]
    message: str


StagedItem = AnswerItem | Stage

# -- ingestion jobs and conversations, as the API shows them ----------------------------------
JobState = Literal["queued", "running", "succeeded", "failed"]


class JobError(_Model):
    code: str = Field(
        description="'ingest_failed': a bad file; 'interrupted': lost to a crash; 'internal'."
    )
    reason: str | None = Field(None, description="Why the file failed: 'needs_ocr', 'empty', ...")
    message: str


class Job(_Model):
    """One file's way into a collection."""

    id: str
    filename: str
    collection: str
    size_bytes: int
    state: JobState = "queued"
    stage: str | None = Field(None, description="Last step done: parsed, chunked, embedded.")
    pages_parsed: int = 0
    pages_ocr_done: int = Field(0, description="Scanned pages read by OCR so far.")
    pages_ocr_total: int = Field(0, description="Scanned pages the file has to OCR.")
    chunks_total: int = 0
    chunks_embedded: int = 0
    duplicate: bool = Field(False, description="The same content was already in the collection.")
    resumed: bool = Field(False, description="Queued again after a restart interrupted it.")
    document: Document | None = None
    error: JobError | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Message(_Model):
    role: Literal["user", "assistant"]
    content: str
    answer: Answer | None = Field(None, description="The whole answer, for assistant messages.")
    created_at: datetime


TITLE_CHARS = 80  # a conversation's title: given, or its first question cut to this


class ConversationSummary(_Model):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class Conversation(ConversationSummary):
    messages: list[Message] = Field(default_factory=list)


def final_answer(stream: Iterable[AnswerItem]) -> Answer:
    """Drain an answer stream (text pieces, then the Answer) and return the Answer."""
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
    if answer is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return answer
