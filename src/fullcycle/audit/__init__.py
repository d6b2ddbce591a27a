"""The audit log: every write to the control plane, with who, what, when and from where."""
