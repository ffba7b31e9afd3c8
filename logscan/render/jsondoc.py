"""JSON: everything the scan found, in one document."""

from __future__ import annotations

import json

import polars as pl

from logscan import sanitize
from logscan.render.common import RenderOptions, iso, iso_time, report_zone, run_document
from logscan.render.trend import file_document, trend_document
from logscan.results import ScanResult


def _category_texts(result: ScanResult, category_id: str) -> dict[str, object]:
    category = result.categories.get(category_id)
    return {
        "explanation": category.explanation if category else "",
        "steps": list(category.steps) if category else [],
    }


def _coverage_document(result: ScanResult) -> dict[str, object]:
    total = result.summary.total
    return {
        "classified_share": result.summary.classified / total if total else None,
        "rules_loaded": result.coverage.height,
        "rules_fired": result.coverage.filter(pl.col("hits") > 0).height,
        "rules": result.coverage.to_dicts(),
        "never_fired": result.never_fired,
    }


def _clusters_document(result: ScanResult) -> dict[str, object]:
    zone = report_zone(result)
    return {
        "unclustered": result.clusters.unclustered,
        "groups": [
            {
                "template": c.template,
                "count": c.count,
                "side": c.side,
                "first_seen": iso_time(c.first_seen, zone),
                "last_seen": iso_time(c.last_seen, zone),
                "examples": [e.__dict__ for e in c.examples],
            }
            for c in result.clusters.clusters
        ],
    }


def render_json(result: ScanResult, options: RenderOptions) -> str:
    del options
    summary = result.summary
    zone = report_zone(result)

    def records(frame: pl.DataFrame) -> list[dict[str, object]]:
        datetimes = tuple(name for name, dtype in frame.schema.items() if dtype.is_temporal())
        return iso(frame, datetimes, zone).to_dicts()

    document = {
        **run_document(result),
        # Failed requests (the headline); the records they left per side; 400s that did not
        # reach Ollama, counted apart.
        "requests": summary.total,
        "records": {
            "server": summary.server_records,
            "client": summary.client_records,
            "other": int(summary.other.get_column("records").sum() or 0),
            "total": summary.records + int(summary.other.get_column("records").sum() or 0),
        },
        "classified": summary.classified,
        "unclassified": summary.total - summary.classified,
        "untimed": summary.untimed,
        "other_400s": {"requests": summary.other_total, "entries": records(summary.other)},
        "window": result.window,
        "assume_tz": result.assume_tz,
        "lines_read": result.lines,
        "excluded_by_time": result.excluded.__dict__,
        "categories": [
            {
                **row,
                "title": result.categories[row["category"]].title
                if row["category"] in result.categories
                else row["category"],
                "remediation": result.categories[row["category"]].remediation
                if row["category"] in result.categories
                else "",
                **_category_texts(result, row["category"]),
            }
            for row in records(summary.by_category)
        ],
        "windows": records(summary.windows),
        "top_endpoints": records(summary.top_endpoints),
        "top_models": records(summary.top_models),
        "top_clients": records(summary.top_clients),
        "no_endpoint": summary.no_endpoint,
        "no_model": summary.no_model,
        "no_client": summary.no_client,
        # Per cause, the record that stands for each of its first requests (up to 3).
        "examples": records(result.examples.drop("request_id")),
        "rule_hits": records(summary.rule_hits),
        "clock_offsets": [
            {
                "server_file": offset.server_file,
                "reference_file": offset.reference_file,
                "offset_seconds": offset.offset.total_seconds(),
                "pairs": offset.pairs,
                "source": offset.source,
            }
            for offset in result.offsets
        ],
        "join": result.join_stats.__dict__,
        "unmatched_server": records(result.unmatched_server),
        "coverage": _coverage_document(result),
        "suppressed": {"total": result.suppressed_total, "entries": records(result.suppressed)},
        "clusters": _clusters_document(result),
        "regex_timeouts": [timeout.__dict__ for timeout in result.regex_timeouts],
        "input": result.input_totals.__dict__,
        "files": [file_document(report, incremental=result.trends is not None) for report in result.files],
        # Without --state, none of the incremental figures: the document is as it was.
        **({"trend": trend_document(result)} if result.trends is not None else {}),
    }
    return sanitize.json_document(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
