"""``rnnkit serve``: an HTTP JSON API (FastAPI) and a web page for trained runs of every
task."""
