"""The UI kit shared by the panel and the kiosk: theme colours, contrast checks, Kivy setup.

Importing this package does not import Kivy; :mod:`tapin.ui.kivyenv` prepares Kivy's
environment and must run before the first ``import kivy``.
"""
