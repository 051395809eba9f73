"""cohort stage of icipredict (see DESIGN.md)."""
