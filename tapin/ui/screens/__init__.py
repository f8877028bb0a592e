"""The screens both apps use, one ``.kv`` + ``.py`` pair each: dialogs, who is booking,
find a free room, report an issue, the admin PIN prompt and the admin screen. Each takes
a :class:`tapin.ui.context.ScreenContext`."""
