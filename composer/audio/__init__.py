"""composer.audio"""
