# Install rules: filled in by the relocatable-install work (docs/install.md).
