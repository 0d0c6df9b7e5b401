"""The recorder's column path (rows appended by the parsers, one frame per dataset) stores exactly what the record
path stores — one checked record object per item, ``records_frame``, the plausibility rules applied to records —
for random mixes of the real recorded frames of tests/fixtures/ws-samples, mutated ones and poison frames; every
reject is counted the same, with the same reason."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levradar.domain.datasets import DATASETS, LIQUIDATION_USD_MAX
from levradar.domain.records import Liquidation, Rows, _Record, records_frame, utc_us
from levradar.ingest.normalize import Batch
from levradar.ingest.record import STREAM_EARLIEST, STREAM_FUTURE, Recorder
from levradar.ingest.report import ImportReport
from levradar.ingest.run import write_batch
from levradar.store import Store
from levradar.venues import ParseError, parse, parse_into
from levradar.venues.okx import DEFAULT_CONTRACT_VALUES

RECEIVED = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2023, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)]
SAMPLES = Path(__file__).parent / "fixtures" / "ws-samples"
VENUES = ("binance", "bybit", "okx", "hyperliquid")
PREFIX = {"binance": "binance", "bybit": "bybit", "okex": "okx", "hyperliquid": "hyperliquid"}
# every recorded frame, under its venue (frames of other venues, bitmex and deribit, under each of ours)
FRAMES = [
    (venue, frame)
    for path in sorted(SAMPLES.glob("*.json"))
    for frame in json.loads(path.read_text())
    for venue in ([v for k, v in PREFIX.items() if path.name.startswith(k)] or VENUES)
]


def _carries_records(venue: str, frame: dict[str, Any]) -> bool:
    try:
        return bool(parse(venue, frame, RECEIVED[0]))
    except ParseError as exc:
        return bool(exc.records)


USEFUL = [(venue, frame) for venue, frame in FRAMES if _carries_records(venue, frame)]
POISONS: list[Any] = [
    "-5", "0", "-0", "1e200", "NaN", "inf", "-Infinity", True, None, "", "١٢٣", "1_000", 1e300, 1, 0, "1e-13",
    "2e9", "1e9", "1e12", "1e19", "x", [], {}, "12.5", 12.5, " 7 ", "1700000000000.5", 1700000000000.5, "1500000000000",
    "1800000000000", 4102444800000, "Sell", "Buy", "SELL", "short", "BTCUSDT", "BTC-USDT-SWAP", "FOO", "BTCUSD",
    "mark-price", "liquidation-orders", "allLiquidation.BTCUSDT", "activeAssetCtx", "forceOrder",
]  # fmt: skip


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else None
    if items is None:
        yield path
        return
    for key, value in items:
        yield from _leaves(value, (*path, key))


def _shift(obj: Any, ms: int) -> None:
    """Move every time of a frame by ``ms`` (a distinct key per message)."""
    for key, value in (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    ):
        if key in ("T", "E", "ts", "updatedTime") and isinstance(value, int | str) and str(value).isdigit():
            obj[key] = type(value)(int(value) + ms)
        else:
            _shift(value, ms)


def _scale(obj: Any, factor: float) -> None:
    for key, value in (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    ):
        if isinstance(value, dict | list):
            _scale(value, factor)
        elif key not in ("T", "E", "ts", "updatedTime", "time", "nextFundingTime", "fundingTime"):
            try:
                obj[key] = f"{float(value) * factor:g}" if isinstance(value, str) else value * factor
            except (TypeError, ValueError):  # not a number: left as it is
                continue


@st.composite
def message(draw: st.DrawFn) -> tuple[str, str | bytes, datetime]:
    venue, frame = draw(st.sampled_from(USEFUL) | st.sampled_from(FRAMES))  # mostly frames carrying records
    frame = copy.deepcopy(frame)
    _shift(frame, draw(st.integers(0, 10**7)))
    kind = draw(
        st.sampled_from(["real", "poison", "poison", "two poisons", "scale", "scale", "twice", "cut", "raw"])
    )
    if kind == "scale":  # every number but the times, scaled: sizes and prices out of any plausible range
        _scale(frame, draw(st.sampled_from([-1.0, 0.0, 1e-20, 1e4, 1e8, 1e12])))
    for _ in range({"poison": 1, "two poisons": 2}.get(kind, 0)):
        path = draw(st.sampled_from(list(_leaves(frame))))
        if path:
            target = frame
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(st.sampled_from(POISONS))
    if kind == "twice" and isinstance(frame.get("data"), list) and frame["data"]:
        frame["data"].append(copy.deepcopy(frame["data"][0]))  # identical fills in one message
    text: str | bytes = json.dumps(frame)
    if kind == "cut":
        text = text[: draw(st.integers(1, len(text) - 1))]
    if kind == "raw":
        text = draw(st.sampled_from(["[" * 3000 + "]" * 3000, b"\xff\xfe{}", "1" + "0" * 400, "[]", "null"]))
    return venue, text, draw(st.sampled_from(RECEIVED)) + timedelta(microseconds=draw(st.integers(0, 10**6)))


def _implausible_record(record: _Record, received_at: datetime) -> str | None:
    """The plausibility rules as the record path applied them, on a record object."""
    ts = record.ts  # type: ignore[attr-defined]
    if not STREAM_EARLIEST <= ts <= received_at + STREAM_FUTURE:
        return f"time {ts:%Y-%m-%d %H:%M:%S} is before 2019 or after its receipt ({received_at:%Y-%m-%d %H:%M:%S})"
    if isinstance(record, Liquidation):
        notional = record.price * record.qty_base
        if not math.isfinite(notional) or notional > LIQUIDATION_USD_MAX:
            return (
                f"liquidation of {notional:.3g} USD (price {record.price:.6g} × size {record.qty_base:.6g})"
            )
    return None


def _record_path(
    store: Store, messages: list[tuple[str, str | bytes, datetime]], flush_every: int
) -> tuple[Counter[str], dict[str, list[str]]]:
    """The record path: records per message, checked, then ``records_frame`` per type and one write per flush."""
    pending: list[_Record] = []
    malformed: Counter[str] = Counter()
    reasons: dict[str, list[str]] = defaultdict(list)

    def flush() -> None:
        by_type: dict[type, list[_Record]] = defaultdict(list)
        for r in pending:
            by_type[type(r)].append(r)
        batch = Batch(ImportReport("record", "websocket"))
        for records in by_type.values():
            batch.add(records[0].dataset_name, records_frame(records, source="record"))
        for aside in write_batch(store, batch, "record", live=True).set_aside:
            reasons[str(aside["venue"])].append(f"{aside['dataset']}: {aside['reason']}")
        pending.clear()

    for i, (venue, raw, received_at) in enumerate(messages):
        try:
            decoded = json.loads(raw)
            records = (
                parse(venue, decoded, received_at, DEFAULT_CONTRACT_VALUES)
                if isinstance(decoded, dict)
                else []
            )
            problem = None
        except Exception as exc:  # the oracle of the recorder's own rule: any failure rejects the message
            problem = str(exc) if isinstance(exc, ParseError) else f"{type(exc).__name__}: {str(exc)[:200]}"
            records = exc.records if isinstance(exc, ParseError) else []
        for record in records:
            why = _implausible_record(record, received_at)
            if why is None:
                pending.append(record)
            else:
                problem = problem or f"{record.dataset_name}: {why}"
        if problem is not None:
            malformed[venue] += 1
            reasons[venue].append(problem)
        if (i + 1) % flush_every == 0 and pending:
            flush()
    if pending:
        flush()
    return malformed, reasons


def _tables(store: Store) -> dict[str, pl.DataFrame]:
    return {name: store.read(name, derived=False).drop("ts_ingest") for name in DATASETS}


@settings(max_examples=60, deadline=None)
@given(messages=st.lists(message(), min_size=1, max_size=40), flush_every=st.integers(1, 50))
def test_rows_store_what_records_store_and_reject_the_same(
    messages: list[tuple[str, str | bytes, datetime]], flush_every: int
) -> None:
    _same_outcome(messages, flush_every)


def test_every_frame_carrying_records_as_is_out_of_range_and_from_the_future() -> None:
    """The same comparison, fixed: each frame carrying records, then scaled beyond any plausible size or price,
    negated, and moved two years ahead of its receipt."""
    messages = []
    for i, (venue, frame) in enumerate(USEFUL):
        for factor in (1.0, 1e12, -1.0, 1e-20):
            scaled = copy.deepcopy(frame)
            _shift(scaled, i)
            _scale(scaled, factor)
            messages.append((venue, json.dumps(scaled), RECEIVED[0]))
        messages.append(
            (venue, json.dumps(frame), datetime(2019, 6, 1, tzinfo=UTC))
        )  # sent before it was received
    _same_outcome(messages, flush_every=7)


def _same_outcome(messages: list[tuple[str, str | bytes, datetime]], flush_every: int) -> None:
    with (
        tempfile.TemporaryDirectory() as a,
        tempfile.TemporaryDirectory() as b,
        Store(a) as old,
        Store(b) as new,
    ):
        malformed, reasons = _record_path(old, messages, flush_every)
        recorder = Recorder(new, VENUES, ["BTC"])
        for i, (venue, raw, received_at) in enumerate(messages):
            recorder._receive(venue, raw, utc_us(received_at))
            if (i + 1) % flush_every == 0:
                recorder.flush()
        recorder.flush()
        expected, got = _tables(old), _tables(new)
        for name in DATASETS:
            assert got[name].equals(expected[name]), name
        rejected = recorder.rejected_dir
        for venue in VENUES:
            file = rejected / f"{venue}.jsonl"
            lines = [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []
            assert sorted(line["reason"] for line in lines) == sorted(reasons[venue])
            assert recorder.stats[venue].malformed == malformed[venue]


def test_rows_read_back_as_the_records_and_a_failed_message_adds_nothing() -> None:
    """``parse`` gives the records the rows hold; a message that fails half-way leaves no row behind, and a
    message's identical fills are numbered."""
    fill = next(f for f in FRAMES if f[0] == "bybit" and "allLiquidation" in json.dumps(f[1]))[1]
    rows, received = Rows(), utc_us(RECEIVED[0])
    parse_into(rows, "bybit", {**fill, "data": [fill["data"][0]] * 3}, received)
    assert [r[-1] for r in rows.rows] == [0, 1, 2]  # seq
    assert rows.records() == parse("bybit", {**fill, "data": [fill["data"][0]] * 3}, RECEIVED[0])
    broken = {**fill, "data": [fill["data"][0], {**fill["data"][0], "p": "NaN"}]}
    with pytest.raises(ParseError, match="p: not a plain decimal number"):
        parse_into(rows, "bybit", broken, received)
    assert len(rows) == 3  # the first fill of the broken message was taken back
