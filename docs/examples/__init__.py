"""The tutorial's package: the export view, its form, its ZCML and its test."""
