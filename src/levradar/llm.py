"""Optional rephrasing of a memo through any OpenAI-compatible chat endpoint, checked against the facts.

``LEVRADAR_LLM_URL`` (the API base, e.g. http://127.0.0.1:8080/v1), ``LEVRADAR_LLM_MODEL`` and ``LEVRADAR_LLM_KEY``
come from the environment. The rewrite is accepted only if every number in it appears in the deterministic memo
and it names no claim term (regime, setup, side, action) the memo does not; otherwise the memo stays as it was and
the reason is reported. Nothing is sent anywhere unless ``--llm`` is given.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
# words that make a claim about the market or the trade: a rewrite may only use those the memo uses
CLAIM_TERMS = (
    "long",
    "short",
    "squeeze",
    "flush",
    "cascade",
    "crowded",
    "fragile",
    "deleveraging",
    "bullish",
    "bearish",
    "buy",
    "sell",
    "breakout",
    "breakdown",
    "reversal",
    "rally",
    "crash",
    "pump",
    "dump",
    "extreme",
    "rising",
    "falling",
    "positive",
    "negative",
    "trending",
    "ranging",
    "reclaim",
    "continuation",
    "mean reversion",
    "stand aside",
    "guaranteed",
    "certain",
)
PROMPT = (
    "Rewrite this trading memo in clearer, more fluent plain English for a trader. Keep every number exactly as "
    "written, add no number, no price, no prediction and no claim that is not in the memo. Reply with the rewrite only."
)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").lstrip("+") for n in NUMBER.findall(text)}


def _claims(text: str) -> set[str]:
    lower = text.lower()
    return {t for t in CLAIM_TERMS if re.search(rf"\b{re.escape(t)}", lower)}


def check_rewrite(memo: str, rewrite: str) -> str | None:
    """Why a rewrite is rejected (a number or claim not in the memo), or None when it is faithful."""
    if not rewrite.strip():
        return "empty rewrite"
    extra_numbers = _numbers(rewrite) - _numbers(memo)
    if extra_numbers:
        return f"introduces numbers not in the facts: {', '.join(sorted(extra_numbers))}"
    extra_claims = _claims(rewrite) - _claims(memo)
    if extra_claims:
        return f"introduces claims not in the facts: {', '.join(sorted(extra_claims))}"
    return None


def rephrase(memo: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """``{"text", "source": "llm" | "deterministic", "rejected": reason or None, "model"}``."""
    url = os.environ.get("LEVRADAR_LLM_URL", "").rstrip("/")
    model = os.environ.get("LEVRADAR_LLM_MODEL", "")
    if not url or not model:
        return _kept(memo, "LEVRADAR_LLM_URL and LEVRADAR_LLM_MODEL must be set for --llm", model)
    body = {
        "model": model,
        "temperature": 0,
        "messages": [{"role": "system", "content": PROMPT}, {"role": "user", "content": memo}],
    }
    headers = {"Content-Type": "application/json"}
    key = os.environ.get("LEVRADAR_LLM_KEY", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        url + "/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
        text = str(answer["choices"][0]["message"]["content"]).strip()
    except (urllib.error.URLError, TimeoutError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        return _kept(memo, f"endpoint failed: {exc}", model)
    reason = check_rewrite(memo, text)
    if reason:
        return _kept(memo, reason, model)
    return {"text": text, "source": "llm", "rejected": None, "model": model}


def _kept(memo: str, reason: str, model: str) -> dict[str, Any]:
    return {"text": memo, "source": "deterministic", "rejected": reason, "model": model or None}
