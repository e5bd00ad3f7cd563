"""The `buying-groups` command line: its commands, and the CSV importer."""
