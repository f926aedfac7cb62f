"""Search: full-text search of the registry, ranked by relevance, popularity or recency.

The index (table ``module_search``, created by migration ``0003``) holds one row
per *listed* module — one with at least one non-yanked version — made of its
name, tags, description and the README of its latest version. The registry and
modules services call :func:`index_module` whenever any of these change.

* SQLite: an FTS5 virtual table ranked by ``bm25`` with column weights
  (name 10, tags 6, description 4, README 1).
* PostgreSQL: a ``tsvector`` column with a GIN index, weighted A (name), B (tags),
  C (description), D (README) and ranked by ``ts_rank``.

The user's query is never passed through as syntax: it is split into words, each
word is quoted and the last one is prefix-matched (``"weather" "stat"*`` /
``'weather' & 'stat':*``), so any input is safe and "find as you type" works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Float, String, Subquery, and_, func, select, text
from sqlalchemy.orm import Session

from visualbox.db.tables.accounts import User
from visualbox.db.tables.modules import Module, ModuleTag, ModuleUse, ModuleVersion

Sort = Literal["relevance", "popularity", "recent"]
MAX_TERMS = 16
_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchHit:
    module: Module
    owner_name: str
    uses: int


def query_terms(q: str) -> list[str]:
    """The words of a user query, lower-cased, at most :data:`MAX_TERMS`."""
    return _WORD_RE.findall(q.lower())[:MAX_TERMS]


def fts5_query(terms: list[str]) -> str:
    """Safe FTS5 syntax: every term quoted, the last one a prefix."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(terms: list[str]) -> str:
    """Safe ``to_tsquery`` syntax: every term quoted and AND-ed, the last one a prefix."""
    quoted = ["'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms]
    quoted[-1] += ":*"
    return " & ".join(quoted)


def index_module(db: Session, module: Module) -> None:
    """Bring the module's index row up to date (no commit)."""
    unindex_module(db, module.id)
    if module.latest_version is None:
        return
    readme = db.scalar(
        select(ModuleVersion.readme).where(
            ModuleVersion.module_id == module.id, ModuleVersion.version == module.latest_version
        )
    )
    values = {
        "id": module.id,
        "name": module.name,
        "description": module.description,
        "readme": readme or "",
        "tags": " ".join(module.tags),
    }
    if _dialect(db) == "postgresql":
        db.execute(
            text(
                "INSERT INTO module_search (module_id, document) VALUES (:id, "
                "setweight(to_tsvector('english', :name), 'A') || "
                "setweight(to_tsvector('english', :tags), 'B') || "
                "setweight(to_tsvector('english', :description), 'C') || "
                "setweight(to_tsvector('english', :readme), 'D'))"
            ),
            values,
        )
    else:
        db.execute(
            text(
                "INSERT INTO module_search (module_id, name, description, readme, tags) "
                "VALUES (:id, :name, :description, :readme, :tags)"
            ),
            values,
        )


def unindex_module(db: Session, module_id: str) -> None:
    """Remove the module from the index (no commit)."""
    db.execute(text("DELETE FROM module_search WHERE module_id = :id"), {"id": module_id})


def search(
    db: Session,
    *,
    q: str = "",
    kind: str | None = None,
    runtime: str | None = None,
    tag: str | None = None,
    sort: Sort = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[SearchHit], int]:
    """One page of listed modules matching the filters, and the total count."""
    uses = (
        select(ModuleUse.module_id, func.count().label("n"))
        .group_by(ModuleUse.module_id)
        .subquery()
    )
    use_count = func.coalesce(uses.c.n, 0)
    query = (
        select(Module, User.name, use_count)
        .join(User, User.id == Module.owner_id)
        .outerjoin(uses, uses.c.module_id == Module.id)
        .where(Module.latest_version.is_not(None))
    )
    if kind is not None:
        query = query.where(Module.kind == kind)
    if runtime is not None:
        query = query.where(Module.runtime == runtime)
    if tag is not None:
        query = query.where(
            select(ModuleTag.tag)
            .where(and_(ModuleTag.module_id == Module.id, ModuleTag.tag == tag))
            .exists()
        )
    terms = query_terms(q)
    rank = None
    if terms:
        matches = _matches(db, terms)
        query = query.join(matches, matches.c.module_id == Module.id)
        rank = matches.c.rank
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    popularity = use_count + Module.fork_count
    recent = Module.published_at.desc()
    if sort == "popularity":
        order = [popularity.desc(), recent]
    elif sort == "recent":
        order = [recent]
    elif rank is not None:
        order = [rank.asc(), popularity.desc()]
    else:
        order = [popularity.desc(), recent]
    rows = db.execute(
        query.order_by(*order, Module.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return [SearchHit(module, owner, int(n)) for module, owner, n in rows], total


def _matches(db: Session, terms: list[str]) -> Subquery:
    """A subquery (module_id, rank) of index rows matching ``terms``; lower rank is better."""
    if _dialect(db) == "postgresql":
        sql = text(
            "SELECT module_id, -ts_rank(document, to_tsquery('english', :q)) AS rank "
            "FROM module_search WHERE document @@ to_tsquery('english', :q)"
        ).bindparams(q=tsquery(terms))
    else:
        sql = text(
            "SELECT module_id, bm25(module_search, 0.0, 10.0, 4.0, 1.0, 6.0) AS rank "
            "FROM module_search WHERE module_search MATCH :q"
        ).bindparams(q=fts5_query(terms))
    return sql.columns(module_id=String, rank=Float).subquery("matches")


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name
