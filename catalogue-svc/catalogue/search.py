"""Search over the catalogue: diacritics-insensitive (đ → d), typo-tolerant (rapidfuzz), with filters.

An in-process index of the versions in force today is rebuilt when the catalogue changes: every request reads a
cheap stamp (count and sum of procedure revisions, which only grow) and the index is rebuilt only when the stamp or
the business date differs, so several replicas behind the gateway stay correct without coordination.

Matching: the query is folded and split into tokens; a procedure matches when every query token matches one of the
folded words of its name. First pass: exact words (the last token may be a prefix, as typed). Only if that finds
nothing, a typo-tolerant pass: every token may match by prefix or by edit similarity (rapidfuzz ratio ≥ 75, tokens
of 4+ characters). A query that looks like a code matches codes by prefix.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue import repository as repo
from services.contracts.catalogue import VersionStatus
from services.text import fold

FUZZY_CUTOFF = 75.0


@dataclass(frozen=True)
class Doc:
    code: str
    name: str
    field_code: str
    field_name: str
    levels: tuple[str, ...]
    online_level: str
    inter_level: bool
    status: str
    version: int
    units: dict[str, str]  # agency id -> online level at that unit


@dataclass
class Index:
    day: date
    docs: list[Doc] = field(default_factory=list)
    vocab: list[str] = field(default_factory=list)
    postings: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, day: date, procs: Any, versions: Any, offers: Any) -> Index:
        units: dict[str, dict[str, str]] = defaultdict(dict)
        for o in offers:
            units[o.code][o.agency_id] = o.online_level
        current: dict[str, tuple[int, str, dict[str, Any]]] = {}
        for code, version, effective_from, status, content in versions:
            if effective_from <= day:
                current[code] = (version, status, content)
        index = cls(day=day)
        postings: dict[str, set[int]] = defaultdict(set)
        for p in sorted(procs, key=lambda p: p.code):
            found = current.get(p.code)
            if found is None:
                continue  # not in force yet
            version, status, content = found
            doc = Doc(
                code=p.code,
                name=content["name"],
                field_code=content["field_code"],
                field_name=content["field_name"],
                levels=tuple(content.get("levels") or ()),
                online_level=content.get("online_level", "none"),
                inter_level=len(content.get("route") or ()) > 1,
                status=status,
                version=version,
                units=units.get(p.code, {}),
            )
            i = len(index.docs)
            index.docs.append(doc)
            for token in set(fold(doc.name, keep_punctuation=False).split()):
                postings[token].add(i)
        index.postings = dict(postings)
        index.vocab = sorted(postings)
        return index

    def _token_docs(self, token: str, *, prefix: bool, fuzzy: bool) -> dict[int, float]:
        """Docs matching one query token, with the best similarity of the match."""
        scores: dict[int, float] = {}

        def add(word: str, score: float) -> None:
            for i in self.postings[word]:
                if scores.get(i, 0.0) < score:
                    scores[i] = score

        if token in self.postings:
            add(token, 100.0)
        if prefix:
            for word in self.vocab:
                if word.startswith(token) and word != token:
                    add(word, 90.0)
        if fuzzy and len(token) >= 4:
            for word, score, _ in process.extract(
                token, self.vocab, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None
            ):
                add(word, float(score))
        return scores

    def _match(self, tokens: list[str], *, fuzzy: bool) -> dict[int, float]:
        matched: dict[int, float] | None = None
        for n, token in enumerate(tokens):
            last = n == len(tokens) - 1
            found = self._token_docs(token, prefix=fuzzy or last, fuzzy=fuzzy)
            matched = found if matched is None else {i: s + found[i] for i, s in matched.items() if i in found}
            if not matched:
                return {}
        return {i: s / len(tokens) for i, s in (matched or {}).items()}

    def search(
        self,
        q: str | None,
        *,
        field_code: str | None = None,
        level: str | None = None,
        unit: str | None = None,
        online_level: str | None = None,
        include_abolished: bool = False,
    ) -> list[tuple[Doc, float]]:
        query = fold(q or "", keep_punctuation=False)
        if query:
            tokens = query.split()
            code_hits = {i: 100.0 for i, d in enumerate(self.docs) if d.code.startswith(query)}
            # Exact words (the last one may be a prefix, as typed); only when nothing matches, tolerate typos.
            scores = self._match(tokens, fuzzy=False) or self._match(tokens, fuzzy=True)
            for i, s in code_hits.items():
                scores[i] = max(scores.get(i, 0.0), s)
            candidates = sorted(scores.items(), key=lambda kv: (-kv[1], self.docs[kv[0]].code))
        else:
            candidates = [(i, 100.0) for i in range(len(self.docs))]
        out: list[tuple[Doc, float]] = []
        for i, score in candidates:
            d = self.docs[i]
            if not include_abolished and d.status == VersionStatus.ABOLISHED.value:
                continue
            if field_code and d.field_code != field_code:
                continue
            if level and level not in d.levels:
                continue
            if unit and unit not in d.units:
                continue
            if online_level:
                have = d.units.get(unit, d.online_level) if unit else d.online_level
                if have != online_level:
                    continue
            out.append((d, round(score, 1)))
        return out


_cache: dict[str, tuple[tuple[int, int, date], Index]] = {}
_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def index_for(session: AsyncSession, cache_key: str, day: date) -> Index:
    stamp = (*await repo.catalogue_stamp(session), day)
    cached = _cache.get(cache_key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    async with _locks[cache_key]:
        cached = _cache.get(cache_key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        procs, versions, offers = await repo.search_rows(session)
        index = Index.build(day, procs, versions, offers)
        _cache[cache_key] = (stamp, index)
        return index


async def index_on(session: AsyncSession, day: date) -> Index:
    """An uncached index of the versions in force on another day (the listing of a past or future date)."""
    procs, versions, offers = await repo.search_rows(session)
    return Index.build(day, procs, versions, offers)
