"""Controllers: turn the reader's commands into worker-thread jobs and ``ReadingSession`` changes.

The main window lays out the views and connects them to these; the rules they apply live in
``app.components.reading``.
"""
