"""The panel's screens: one ``.kv`` + ``.py`` pair each."""
