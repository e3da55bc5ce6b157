"""One module per tab of the page; each has ``render(view)``, run only while it is open."""
