"""features stage of icipredict (see DESIGN.md)."""
