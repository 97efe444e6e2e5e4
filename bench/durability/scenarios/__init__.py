"""One module per scenario; each scenario is a function returning a JSON-ready dict."""
