"""evaluation stage of icipredict (see DESIGN.md)."""
