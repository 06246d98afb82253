"""The benchmark figures users read are regenerated from bench/results, never typed by hand."""

from __future__ import annotations

from bench import report


def test_benchmarks_page_and_readme_table_match_the_results(capsys):
    assert report.main(["--check"]) == 0, capsys.readouterr().err


def test_readme_table_has_a_row_per_measured_target():
    rows = report.readme_table()[2:]
    assert len(rows) == 8
    assert all(row.count("|") == 7 for row in rows)
    # every "now" cell comes with the commit it was measured at
    assert all(row.rstrip(" |").endswith("`") for row in rows)
