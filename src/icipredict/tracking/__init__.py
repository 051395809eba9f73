"""tracking stage of icipredict (see DESIGN.md)."""
