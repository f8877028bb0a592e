"""The kiosk's own screens: one ``.kv`` + ``.py`` each."""
