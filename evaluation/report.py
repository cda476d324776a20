"""An evaluation report as tables for the terminal, JSON, and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from core.files import write_atomically
from evaluation.runner import Report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def retrieval_table(report: Report) -> Table:
    k, scores = report.k, list(report.retrieval.values())
    questions = scores[0].questions if scores else 0
    budget = f"budget: the first {report.budget_chars:,} characters of ranked text"
    table = Table(title=f"Retrieval ({questions} answerable questions; {budget})")
    headers = (
        "set-up",
        f"recall@{k}",
        "MRR@10",
        f"page hit@{k}",
        "in budget",
        f"budget recall@{k}",
        "budget MRR@10",
        "ms/query p50",
    )
    table.add_column(headers[0], no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, justify="right")
    for name, s in report.retrieval.items():
        table.add_row(
            name,
            _pct(s.recall_at_k),
            _pct(s.mrr_at_10),
            _pct(s.page_hit_at_k),
            _pct(s.budget_recall),
            _pct(s.budget_recall_at_k),
            _pct(s.budget_mrr_at_10),
            f"{s.ms_per_query_p50:.0f}",
        )
    if (shown := report.shown) is not None:
        setup = next(iter(report.retrieval), "")
        table.caption = (
            f"Shown to the model ({setup}'s top passages, gated and excerpted): "
            f"an answer in {_pct(shown.recall)}%, {shown.chars_mean:,.0f} characters on average"
        )
    return table


def answer_table(report: Report) -> Table:
    table = Table(title=f"Answers ({report.model})")
    headers = ("strategy", "EM", "F1", "ROUGE-L", "answered", "cites answer", "refused", "s p50")
    table.add_column(headers[0], no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, justify="right")
    for name, s in report.answers.items():
        refusals = (
            "-"
            if s.refusal_rate is None
            else f"{round(s.refusal_rate * s.unanswerable)} of {s.unanswerable}"
        )
        table.add_row(
            name,
            _pct(s.exact_match),
            _pct(s.f1),
            _pct(s.rouge_l),
            _pct(s.answered),
            _pct(s.citation_correct),
            refusals,
            f"{s.seconds_per_answer_p50:.1f}",
        )
    return table


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, report.model_dump_json(indent=2).encode())


def write_chart(report: Report, path: Path) -> None:
    """Grouped bars: retrieval set-ups on the left, prompt strategies on the right."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    panels = [("Retrieval", _retrieval_bars(report))]
    if report.answers:
        panels.append((f"Answers ({report.model})", _answer_bars(report)))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.6), squeeze=False)
    for ax, (title, (metrics, groups)) in zip(axes[0], panels, strict=True):
        width = 0.8 / max(len(groups), 1)
        for i, (name, values) in enumerate(groups.items()):
            xs = [m + (i - (len(groups) - 1) / 2) * width for m in range(len(metrics))]
            bars = ax.bar(xs, [100 * (v or 0) for v in values], width, label=name)
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
        ax.set_xticks(range(len(metrics)), metrics, fontsize=8)
        ax.set_ylim(0, 110)
        ax.set_ylabel("%")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=len(groups))
    fig.suptitle(f"kbqa eval: {Path(report.dataset).name}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def _retrieval_bars(report: Report) -> tuple[list[str], dict[str, list[float | None]]]:
    k = report.k
    metrics = [f"recall@{k}", "MRR@10", f"page hit@{k}", f"in {report.budget_chars} chars"]
    groups = {
        name: [s.recall_at_k, s.mrr_at_10, s.page_hit_at_k, s.budget_recall]
        for name, s in report.retrieval.items()
    }
    return metrics, groups


def _answer_bars(report: Report) -> tuple[list[str], dict[str, list[float | None]]]:
    metrics = ["EM", "F1", "ROUGE-L", "citations right", "refused (no answer)"]
    groups = {
        name: [s.exact_match, s.f1, s.rouge_l, s.citation_correct, s.refusal_rate]
        for name, s in report.answers.items()
    }
    return metrics, groups
