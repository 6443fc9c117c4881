"""Split streamed LLM text into sentences, so the first one can be spoken while the rest is generated."""

from __future__ import annotations

import re

# A sentence ends at . ? ! (or … and runs of them) followed by whitespace, or at a newline.
# Requiring the whitespace keeps "3.5" and "www.example.co.il" whole.
_BOUNDARY = re.compile(r"[.?!…]+[\"'”׳״)]*(?=\s)|\n")


class SentenceSplitter:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        """Add streamed text; return the sentences it completed."""
        self._buffer += delta
        out: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._buffer):
            sentence = self._buffer[start : match.end()].strip()
            if sentence:
                out.append(sentence)
            start = match.end()
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> list[str]:
        """The unterminated rest, at the end of the stream."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
