"""A fake Hugging Face Hub: enough of the Hub's HTTP API for huggingface_hub and transformers.

It serves a catalog of model folders over real HTTP on 127.0.0.1, so the real client code
(`HfApi.list_models`, `model_info`, `snapshot_download`, `from_pretrained`) runs against it
through `HF_ENDPOINT`. Standard library only (PyYAML is used when a README has front matter).

Routes, as the Hub answers them:
    GET  /api/models                          filters, sort, limit, expand, Link: rel="next" pages
    GET  /api/models/{org}/{name}[/revision/{rev}]
    GET  /api/models/{org}/{name}/tree/{rev}[/{path}]
    HEAD|GET /{org}/{name}/resolve/{rev}/{file}   X-Repo-Commit, ETag, Range
Errors carry the status and `X-Error-Code` the Hub sends (RepoNotFound, GatedRepo,
RevisionNotFound, EntryNotFound). Scripted faults (`FakeHub.add_fault`): 429 with
Retry-After, slow answers, bodies cut short, any status.

By hand, serving every subfolder of a folder that holds a config.json as `demo/<folder>`:

    python -m tests.fakehub --models-dir demo_models --port 8765

An optional `hub_meta.json` in a model folder overrides the metadata (downloads, likes,
trending_score, created_at, last_modified, pipeline_tag, library_name, tags, gated, private,
card_data, or the card shorthands license, language, base_model). The server never logs request headers, so a token sent to it is not written anywhere.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DEFAULT_DATE = "2024-01-15T10:00:00.000Z"
#: Files the Hub stores with Git LFS (their ETag is the sha256 of the content).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack")
#: The Hub serves the card of a gated repo to everyone; only the other files are gated.
UNGATED_FILES = {"README.md", ".gitattributes"}
SORT_KEYS = {
    "downloads": lambda r: r.downloads,
    "likes": lambda r: r.likes,
    "trendingScore": lambda r: r.trending_score,
    "lastModified": lambda r: r.last_modified,
    "createdAt": lambda r: r.created_at,
}
#: Fields of a listing without `expand` (what the Hub sends by default).
DEFAULT_LIST_FIELDS = ["likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag", "library_name", "createdAt"]
#: hub_meta.json keys that are card metadata (license, language, base_model) rather than repo fields.
CARD_META_KEYS = ("license", "language", "base_model")
SIZE_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


# --------------------------------------------------------------------------- catalog


@dataclass
class FakeFile:
    """One file of a repo, read from disk or held in memory."""

    path: str
    source: Path | bytes

    @cached_property
    def data(self) -> bytes:
        return self.source if isinstance(self.source, bytes) else self.source.read_bytes()

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    @property
    def is_lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def blob_id(self) -> str:
        """The git blob id, as git computes it."""
        return hashlib.sha1(b"blob %d\0" % self.size + self.data).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.is_lfs else self.blob_id


@dataclass
class FakeRepo:
    """A model repo with the metadata the Hub keeps about it."""

    repo_id: str
    files: dict[str, FakeFile]
    downloads: int = 0
    downloads_all_time: int | None = None
    likes: int = 0
    trending_score: int = 0
    created_at: str = DEFAULT_DATE
    last_modified: str = DEFAULT_DATE
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: list[str] = field(default_factory=list)
    gated: bool | str = False
    private: bool = False
    card_data: dict | None = None

    @property
    def author(self) -> str:
        return self.repo_id.split("/")[0]

    @cached_property
    def sha(self) -> str:
        digest = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            digest.update(f"{path}:{self.files[path].etag}".encode())
        return digest.hexdigest()

    @cached_property
    def config(self) -> dict:
        file = self.files.get("config.json")
        return json.loads(file.data) if file else {}

    @cached_property
    def safetensors(self) -> dict | None:
        counts: dict[str, int] = {}
        for file in self.files.values():
            if file.path.endswith(".safetensors"):
                for dtype, count in count_safetensors_parameters(file.data).items():
                    counts[dtype] = counts.get(dtype, 0) + count
        return {"parameters": counts, "total": sum(counts.values())} if counts else None

    @property
    def parameters(self) -> int | None:
        return self.safetensors["total"] if self.safetensors else None

    def to_json(self, *, fields: list[str] | None, blobs: bool = False) -> dict:
        """The repo as the Hub's JSON; `fields` limits it like `expand` does (None = everything)."""
        everything = self._all_fields(blobs=blobs)
        chosen = everything if fields is None else {k: everything[k] for k in fields if k in everything}
        return {"_id": self.sha[:24], "id": self.repo_id, **chosen}

    def _all_fields(self, *, blobs: bool) -> dict:
        return {
            "author": self.author,
            "modelId": self.repo_id,
            "sha": self.sha,
            "lastModified": self.last_modified,
            "createdAt": self.created_at,
            "private": self.private,
            "gated": self.gated,
            "disabled": False,
            "downloads": self.downloads,
            "downloadsAllTime": self.downloads_all_time if self.downloads_all_time is not None else self.downloads * 12,
            "likes": self.likes,
            "trendingScore": self.trending_score,
            "library_name": self.library_name,
            "pipeline_tag": self.pipeline_tag,
            "tags": self.tags,
            "cardData": self.card_data,
            "config": {k: self.config[k] for k in ("architectures", "model_type", "auto_map") if k in self.config},
            "safetensors": self.safetensors,
            "siblings": [self._sibling(f, blobs=blobs) for f in self.files.values()],
            "spaces": [],
            "usedStorage": sum(f.size for f in self.files.values()),
        }

    @staticmethod
    def _sibling(file: FakeFile, *, blobs: bool) -> dict:
        if not blobs:
            return {"rfilename": file.path}
        entry = {"rfilename": file.path, "size": file.size, "blobId": file.blob_id}
        if file.is_lfs:
            entry["lfs"] = {"size": file.size, "sha256": file.sha256, "pointerSize": 134}
        return entry


def count_safetensors_parameters(data: bytes) -> dict[str, int]:
    """Parameters per dtype, read from a safetensors header (as the Hub shows them)."""
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        size = 1
        for dim in tensor["shape"]:
            size *= dim
        counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + size
    return counts


def repo_from_folder(folder: Path, repo_id: str, **meta) -> FakeRepo:
    """A repo with every file of `folder`, metadata guessed like the Hub does, then `meta` on top."""
    folder = Path(folder)
    meta_file = folder / "hub_meta.json"
    on_disk = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    files = {
        p.relative_to(folder).as_posix(): FakeFile(p.relative_to(folder).as_posix(), p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "hub_meta.json" and ".cache" not in p.parts
    }
    saved_at = iso_date(max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0))
    repo = FakeRepo(repo_id=repo_id, files=files, created_at=saved_at, last_modified=saved_at)
    settings = {**on_disk, **meta}
    extra_tags = settings.pop("tags", [])
    card_fields = {k: settings.pop(k) for k in CARD_META_KEYS if k in settings}
    for key, value in settings.items():
        if key not in FakeRepo.__dataclass_fields__ or key in ("repo_id", "files"):
            known = sorted(set(FakeRepo.__dataclass_fields__) - {"repo_id", "files"} | set(CARD_META_KEYS))
            raise ValueError(f"{folder / 'hub_meta.json'}: unknown key {key!r}; known keys: {', '.join(known)}")
        setattr(repo, key, value)
    fill_guessed_metadata(repo, extra_tags)
    if card_fields:  # shorthand for card metadata, for folders whose README has no YAML header
        repo.card_data = {**card_fields, **(repo.card_data or {})}
        repo.tags = guess_tags(repo)
    return repo


def iso_date(timestamp: float) -> str:
    """A Unix time as the Hub writes dates (the folder's save time stands in for the last commit)."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fill_guessed_metadata(repo: FakeRepo, extra_tags: list[str]) -> None:
    """Pipeline tag, library, card data and tags computed from the files, as the Hub does."""
    is_sentence_transformers = "modules.json" in repo.files
    if repo.library_name is None:
        repo.library_name = "sentence-transformers" if is_sentence_transformers else "transformers"
    if repo.pipeline_tag is None:
        repo.pipeline_tag = guess_pipeline_tag(repo.config, is_sentence_transformers)
    if repo.card_data is None and "README.md" in repo.files:
        repo.card_data = read_front_matter(repo.files["README.md"].data.decode("utf-8", "replace"))
    repo.tags = guess_tags(repo) + [t for t in extra_tags if t not in repo.tags]


def guess_pipeline_tag(config: dict, is_sentence_transformers: bool) -> str | None:
    architectures = config.get("architectures") or []
    if is_sentence_transformers:
        return "sentence-similarity"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "text-classification"
    if any(a.endswith("Model") for a in architectures):
        return "feature-extraction"
    return None


def guess_tags(repo: FakeRepo) -> list[str]:
    card = repo.card_data or {}
    languages = card.get("language") or []
    loads_with_transformers = "transformers" if "config.json" in repo.files else None
    tags = [repo.library_name, loads_with_transformers, repo.config.get("model_type"), repo.pipeline_tag]
    tags += ["safetensors"] if any(p.endswith(".safetensors") for p in repo.files) else []
    tags += ["pytorch"] if any(p.endswith(".bin") for p in repo.files) else []
    tags += ["custom_code"] if "auto_map" in repo.config else []
    tags += [languages] if isinstance(languages, str) else list(languages)
    tags += [f"license:{card['license']}"] if card.get("license") else []
    tags += list(repo.tags)
    return [t for i, t in enumerate(tags) if t and t not in tags[:i]]


def read_front_matter(text: str) -> dict | None:
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        return None
    import yaml

    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None


def catalog_from_models_dir(models_dir: Path, *, org: str = "demo") -> dict[str, FakeRepo]:
    """Every subfolder of `models_dir` holding a config.json, as the repo `org/<folder>`."""
    folders = sorted(p.parent for p in Path(models_dir).glob("*/config.json"))
    return {f"{org}/{f.name}": repo_from_folder(f, f"{org}/{f.name}") for f in folders}


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    """A scripted failure for requests whose path contains `match`; `times=None` means forever."""

    kind: str  # "rate_limit" | "slow" | "cut_short" | "status"
    match: str = "/"
    times: int | None = 1
    retry_after_s: int = 1
    #: rate_limit: how the wait is said: "seconds" (Retry-After: 1), "date" (Retry-After: an HTTP date),
    #: or "ratelimit" (the IETF draft's RateLimit header the Hub sends, without Retry-After)
    wait_header: str = "seconds"
    delay_s: float = 0.0
    status: int = 500
    #: status: quote the request's Authorization header in the error message, as a careless server might
    echo_authorization: bool = False


FAULT_KINDS = ("rate_limit", "slow", "cut_short", "status")


def rate_limit_headers(fault: Fault) -> dict[str, str]:
    if fault.wait_header == "ratelimit":
        return {"RateLimit": f'"api";r=0;t={fault.retry_after_s}', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    if fault.wait_header == "date":
        return {"Retry-After": email.utils.formatdate(time.time() + fault.retry_after_s, usegmt=True)}
    return {"Retry-After": str(fault.retry_after_s)}


# --------------------------------------------------------------------------- server


class HubError(Exception):
    """An error answer: HTTP status plus the Hub's X-Error-Code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class LoggedRequest:
    """What the fake Hub remembers about a request: never its headers."""

    method: str
    path: str
    query: dict
    authorized: bool
    #: Whether the request carried an Authorization header (its value is never kept).
    sent_token: bool = False


class FakeHub:
    """The server. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        repos: dict[str, FakeRepo],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 1000,
        granted_tokens: tuple[str, ...] = (),
    ) -> None:
        self.repos = repos
        self.page_size = page_size
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._granted = {_token_digest(t) for t in granted_tokens}
        self._lock = threading.Lock()
        self._connections: set = set()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakehub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def go_away(self) -> None:
        """Stop and close every open connection too, as a Hub that is gone would (after `stop()`
        alone, keep-alive connections would still be answered)."""
        self.stop()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def track(self, connection, *, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_fault(self, kind: str, *, match: str = "/", times: int | None = 1, **options) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {FAULT_KINDS}")
        fault = Fault(kind=kind, match=match, times=times, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget faults and the request log."""
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def paths(self, method: str = "GET") -> list[str]:
        return [r.path for r in self.requests if r.method == method]

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind == "cut_short" and method == "HEAD":
                    continue  # a HEAD answer has no body to cut
                if fault.match in path and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def log(self, request: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def is_granted(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ").strip()
        return bool(token) and _token_digest(token) in self._granted

    # ---- API ---------------------------------------------------------------------

    def list_models(self, query: dict[str, list[str]], *, base_url: str) -> tuple[list[dict], str | None]:
        repos = [r for r in self.repos.values() if not r.private and _matches(r, query)]
        sort = _first(query, "sort")
        if sort:
            if sort not in SORT_KEYS:
                raise HubError(400, "BadRequest", f"Invalid sort {sort!r}; valid: {sorted(SORT_KEYS)}")
            repos.sort(key=SORT_KEYS[sort], reverse=True)
        limit = int(_first(query, "limit") or self.page_size)
        offset = int(_first(query, "cursor") or 0)
        size = min(limit, self.page_size)
        page = repos[offset : offset + size]
        fields = _list_fields(query)
        items = [r.to_json(fields=fields) for r in page]
        has_more = offset + size < len(repos)
        next_url = None
        if has_more:
            next_query = {k: v for k, v in query.items() if k != "cursor"} | {"cursor": [str(offset + size)]}
            next_url = f"{base_url}/api/models?{urlencode(next_query, doseq=True)}"
        return items, next_url

    def find_repo(self, repo_id: str, *, authorized: bool) -> FakeRepo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not authorized):
            status = 401 if repo is None or not authorized else 404
            raise HubError(status, "RepoNotFound", "Repository not found")
        return repo

    @staticmethod
    def check_revision(repo: FakeRepo, revision: str) -> None:
        if unquote(revision) not in ("main", repo.sha):
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")

    def tree(self, repo: FakeRepo, prefix: str, *, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        under = [f for f in repo.files.values() if not prefix or f.path.startswith(prefix + "/")]
        if prefix and not under:
            raise HubError(404, "EntryNotFound", f"{prefix} does not exist on main")
        entries: dict[str, dict] = {}
        for file in under:
            rest = file.path[len(prefix) + 1 :] if prefix else file.path
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(([prefix] if prefix else []) + parts[:depth])
                entries.setdefault(folder, {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0, "path": folder})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                entries[file.path] = _tree_file(file)
        return list(entries.values())


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _list_fields(query: dict[str, list[str]]) -> list[str] | None:
    expand = query.get("expand") or query.get("expand[]")
    if expand:
        return list(expand)
    if _first(query, "full") in ("True", "true", "1"):
        return None
    fields = DEFAULT_LIST_FIELDS + (["cardData"] if "cardData" in query else []) + (["config"] if "config" in query else [])
    return fields


def _matches(repo: FakeRepo, query: dict[str, list[str]]) -> bool:
    search = (_first(query, "search") or "").lower()
    author = _first(query, "author")
    pipeline_tag = _first(query, "pipeline_tag")
    gated = _first(query, "gated")
    tags = set(repo.tags) | {repo.pipeline_tag, repo.library_name}
    checks = [
        search in repo.repo_id.lower(),
        author is None or repo.author == author,
        pipeline_tag is None or repo.pipeline_tag == pipeline_tag,
        all(t in tags for t in query.get("filter", [])),
        gated is None or (gated.lower() == "true") == bool(repo.gated),
        _in_parameter_range(repo.parameters, _first(query, "num_parameters")),
    ]
    return all(checks)


def _in_parameter_range(parameters: int | None, spec: str | None) -> bool:
    if not spec:
        return True
    if parameters is None:
        return False
    bounds = dict(part.split(":", 1) for part in spec.split(",") if ":" in part)
    low = _parse_count(bounds.get("min", "0"))
    high = _parse_count(bounds["max"]) if "max" in bounds else None
    return parameters >= low and (high is None or parameters <= high)


def _parse_count(text: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT]?)\s*", text.upper())
    if not match:
        raise HubError(400, "BadRequest", f"Invalid num_parameters bound {text!r}; use e.g. 100M or 6B")
    return float(match.group(1)) * SIZE_SUFFIXES[match.group(2)]


def _tree_file(file: FakeFile) -> dict:
    entry = {"type": "file", "oid": file.blob_id, "size": file.size, "path": file.path}
    if file.is_lfs:
        entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": 134}
    return entry


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.hub.track(self.connection, open_=True)

    def finish(self) -> None:
        self.hub.track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence the default stderr log
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query, keep_blank_values=True)
        authorized = self.hub.is_granted(self.headers.get("Authorization"))
        self.hub.log(LoggedRequest(self.command, path, query, authorized, sent_token=bool(self.headers.get("Authorization"))))
        try:
            if self._apply_fault(path):
                return
            self._route(path, query, head=head, authorized=authorized)
        except HubError as error:
            self._send_error(error, head=head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _apply_fault(self, path: str) -> bool:
        """Act out a scripted fault; True when the request was answered by it."""
        fault = self.hub.take_fault(self.command, path)
        if fault is None:
            return False
        if fault.kind == "slow":
            time.sleep(fault.delay_s)
            return False
        if fault.kind == "rate_limit":
            self._send_json({"error": "You have been rate-limited."}, status=429, head=False,
                            headers={**rate_limit_headers(fault), "X-Error-Code": "RateLimited"})
            return True
        if fault.kind == "status":
            echoed = f" (you sent {self.headers.get('Authorization')})" if fault.echo_authorization else ""
            self._send_error(HubError(fault.status, "", f"Scripted HTTP {fault.status}{echoed}"), head=False)
            return True
        self._pending_cut = True  # cut_short: the next body is sent half way, then the socket closes
        return False

    def _route(self, path: str, query: dict, *, head: bool, authorized: bool) -> None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "models"] and len(parts) == 2:
            items, next_url = self.hub.list_models(query, base_url=self._base_url())
            link = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
            return self._send_json(items, head=head, headers=link)
        if parts[:2] == ["api", "models"] and len(parts) == 3:
            raise HubError(401, "RepoNotFound", "Repository not found")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self._route_repo_api(parts[2:], query, head=head, authorized=authorized)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._send_file(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head=head, authorized=authorized)
        raise HubError(404, "", f"Sorry, we can't find the page you are looking for: {path}")

    def _route_repo_api(self, parts: list[str], query: dict, *, head: bool, authorized: bool) -> None:
        repo = self.hub.find_repo(f"{parts[0]}/{parts[1]}", authorized=authorized)
        rest = parts[2:]
        if not rest or rest[0] == "revision":
            if rest:
                self.hub.check_revision(repo, rest[1] if len(rest) > 1 else "")
            fields = list(query["expand"]) if query.get("expand") else None
            blobs = _first(query, "blobs") in ("True", "true", "1")
            return self._send_json(repo.to_json(fields=fields, blobs=blobs), head=head)
        if rest[0] == "tree" and len(rest) >= 2:
            self.hub.check_revision(repo, rest[1])
            recursive = _first(query, "recursive") in ("True", "true", "1")
            return self._send_json(self.hub.tree(repo, "/".join(rest[2:]), recursive=recursive), head=head)
        raise HubError(404, "", f"Unknown route /api/models/{'/'.join(parts)}")

    def _send_file(self, repo_id: str, revision: str, name: str, *, head: bool, authorized: bool) -> None:
        repo = self.hub.find_repo(repo_id, authorized=authorized)
        self.hub.check_revision(repo, revision)
        file = repo.files.get(name)
        if file is None:
            raise HubError(404, "EntryNotFound", f"Entry not found: {name}")
        if repo.gated and name not in UNGATED_FILES and not authorized:
            status = 403 if self.headers.get("Authorization") else 401
            message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
            raise HubError(status, "GatedRepo", message)
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{file.etag}"', "Accept-Ranges": "bytes"}
        if file.is_lfs:
            headers |= {"X-Linked-Etag": f'"{file.etag}"', "X-Linked-Size": str(file.size)}
        body, status = self._ranged(file, headers)
        self._send(body, status=status, head=head, content_type="application/octet-stream", headers=headers)

    def _ranged(self, file: FakeFile, headers: dict) -> tuple[bytes, int]:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not match:
            return file.data, 200
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else file.size - 1
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
        return file.data[start : end + 1], 206

    def _base_url(self) -> str:
        return f"http://{self.headers.get('Host') or self.hub.url.removeprefix('http://')}"

    def _send_error(self, error: HubError, *, head: bool) -> None:
        headers = {"X-Error-Message": error.message}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send_json({"error": error.message}, status=error.status, head=head, headers=headers)

    def _send_json(self, payload, *, status: int = 200, head: bool, headers: dict | None = None) -> None:
        body = json.dumps(payload, default=str).encode()
        self._send(body, status=status, head=head, content_type="application/json; charset=utf-8", headers=headers)

    def _send(self, body: bytes, *, status: int, head: bool, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        cut = getattr(self, "_pending_cut", False) and not head
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self._pending_cut = False
            self.close_connection = True


# --------------------------------------------------------------------------- by hand


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakehub", description="Serve model folders as a fake Hub.")
    parser.add_argument("--models-dir", type=Path, required=True, help="folder whose subfolders hold a config.json")
    parser.add_argument("--org", default="demo", help="namespace of the served repos (default: demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if not args.models_dir.is_dir():
        parser.error(f"--models-dir {args.models_dir} is not a folder; create it or point at one with model folders")
    repos = catalog_from_models_dir(args.models_dir, org=args.org)
    if not repos:
        parser.error(f"no subfolder of {args.models_dir} holds a config.json; save models there with save_pretrained")
    hub = FakeHub(repos, host=args.host, port=args.port)
    print(f"Fake Hub serving {len(repos)} models at {hub.url}: {', '.join(repos)}", flush=True)
    print(f"Point clients at it with: export HF_ENDPOINT={hub.url}", flush=True)
    try:
        hub._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
