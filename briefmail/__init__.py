"""The application shell: the one composition root (`app`), settings, and the faces on it.

Faces (`cli`, `web`, `ops`) call the operations `briefmail.app.Briefmail` hands out; nothing
below this package imports it.
"""
