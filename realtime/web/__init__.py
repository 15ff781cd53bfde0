"""The browser page of `stylize-video serve` (package data: index.html, app.js, style.css)."""
