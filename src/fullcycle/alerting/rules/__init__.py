"""Alert rules: their specification, rule files and storing them."""
