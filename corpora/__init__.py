"""Corpus builders: the music21 corpus and folders of the user's MIDI files.

Built data goes to the cache (``composer.paths.cache_dir()``), never into git.
"""
