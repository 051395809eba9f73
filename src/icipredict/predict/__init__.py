"""predict stage of icipredict (see DESIGN.md)."""
