"""The multi-task method study (scripts/study.sh): expert usage per task, aggregation, figures, report."""
