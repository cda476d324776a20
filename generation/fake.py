"""A deterministic chat model for tests and offline demos: it quotes the best source sentence.

It reads the prompt the way a reader would: the numbered sources and the question, both from
the last user message, and answers with the source sentence sharing the most words with the
question, cited. Asked to rewrite a follow-up (``generation/prompts/rewrite.toml``), it puts
the name the previous question asked about in place of the follow-up's pronouns. It can also
loop, as small models do, to exercise the repetition guard. It needs no server, so the API and
UI can be tested without a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from core.text import sentence_spans
from generation.prompts import REFUSAL

# The question's label is the template's, in the question's language ("Question: ", "问题：").
_LABEL = "(?:Question: |问题：)"
_SOURCE = re.compile(rf"^\[(\d+)\] \(.*?\)\n(.*?)(?=^\[\d+\] \(|^{_LABEL}|\Z)", re.M | re.S)
_QUESTION = re.compile(rf"^{_LABEL}(.*)\Z", re.M | re.S)
_WORD = re.compile(r"\w+")
_REWRITE = re.compile(
    r"\AConversation:\n(.*)\nFollow-up question: (.*)\nRewritten question:\Z", re.S
)
_PRONOUN = re.compile(r"\b(?:(its|their|his|her)|it|they|them|he|him|she)\b", re.I)
_NAME = re.compile(r"[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")
DEFAULT_MAX_TOKENS = 384


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


def quote_best_sentence(prompt: str) -> str:
    """The source sentence that best matches the prompt's question, with its ``[n]``.

    A name the question holds (a capitalised word after its first) counts half a word: it says
    what the question is about, the other words what it asks ("Who kept Harbour Board's
    lighthouse?" is answered by the lighthouse's sentence, not the harbour's).
    """
    question = _QUESTION.search(prompt)
    text = question.group(1) if question else ""
    names = {w.lower() for w in _WORD.findall(text)[1:] if w[0].isupper()}
    wanted = _words(text)
    best, best_score = "", 0.0
    for number, source in _SOURCE.findall(prompt):
        for sentence in (source[start:end] for start, end in sentence_spans(source)):
            shared = wanted & _words(sentence)
            score = len(shared - names) + len(shared & names) / 2
            if score > best_score:
                best, best_score = f"{sentence.strip()} [{number}]", score
    return best or REFUSAL


def rewrite_follow_up(conversation: str, question: str) -> str:
    """``question`` with its pronouns replaced by what the conversation's last question was
    about: its first capitalised name ("Elmstead"), else its longer words.

    "And who was its engineer?" after "When was the Elmstead reservoir completed?" becomes
    "And who was Elmstead's engineer?"; a question without pronouns stays as it is.
    """
    asked = [line[6:] for line in conversation.splitlines() if line.startswith("User: ")]
    if not asked:
        return question
    _, _, rest = asked[-1].partition(" ")  # a question's first word is capitalised anyway
    name = _NAME.search(rest)
    topic = name.group() if name else " ".join(w for w in _WORD.findall(rest) if len(w) > 3)
    return _PRONOUN.sub(lambda m: f"{topic}'s" if m.group(1) else topic, question)


class QuotingChatModel(BaseChatModel):
    """Answers with :func:`quote_best_sentence`, streamed word by word.

    With ``loops_below_penalty`` set, it loops the way a small model can: it says its answer
    again and again, up to ``max_tokens`` words, unless the request's repetition penalty
    (vLLM's or llama.cpp's name) is at least that.
    """

    loops_below_penalty: float = 0.0  # 0: never loops

    @property
    def _llm_type(self) -> str:
        return "kbqa-quoting-fake"

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> str:
        if not messages:
            return REFUSAL
        if rewrite := _REWRITE.match(str(messages[-1].content)):
            return rewrite_follow_up(*rewrite.groups())
        answer = quote_best_sentence(str(messages[-1].content))
        if '"Reasoning:"' in str(messages[0].content) and answer != REFUSAL:  # chain-of-thought
            answer = (
                f"Reasoning: the sources were searched for the question's words.\nAnswer: {answer}"
            )
        if self._loops(kwargs):
            words = answer.split()
            limit = kwargs.get("max_tokens") or DEFAULT_MAX_TOKENS
            return " ".join(words[i % len(words)] for i in range(max(limit, len(words))))
        return answer

    def _loops(self, kwargs: dict[str, Any]) -> bool:
        extra = kwargs.get("extra_body") or {}
        penalty = extra.get("repetition_penalty") or extra.get("repeat_penalty") or 1.0
        return penalty < self.loops_below_penalty

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\S+\s*", self._reply(messages, **kwargs)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
