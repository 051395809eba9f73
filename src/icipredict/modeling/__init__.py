"""modeling stage of icipredict (see DESIGN.md)."""
