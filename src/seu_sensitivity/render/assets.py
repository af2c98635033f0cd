"""The site's page template and stylesheet (kept in Python so any install ships them)."""

from __future__ import annotations

#: ``string.Template`` of a page: $title, $css, $sidebar, $toc, $body, $navigation
PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="seu render (built-in engine)">
<title>$title</title>
<link rel="stylesheet" href="$css">
</head>
<body>
<nav class="sidebar" aria-label="Chapters">
$sidebar
</nav>
<div class="page">
<main class="content">
$body
$navigation
</main>
<aside class="page-toc">
$toc
</aside>
</div>
</body>
</html>
"""

SITE_CSS = """
:root { --accent: #2780e3; --muted: #6c757d; --border: #dee2e6; --code-bg: #f7f7f9; }
* { box-sizing: border-box; }
html { font-size: 17px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       line-height: 1.6; color: #212529; background: #fff; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 17rem; overflow-y: auto; padding: 1.2rem 1rem;
           border-right: 1px solid var(--border); background: #fafafa; font-size: 0.9rem; }
.sidebar .book-title { display: block; font-weight: 600; font-size: 1.1rem; color: #212529; margin-bottom: 1rem; }
.sidebar ul { list-style: none; padding-left: 0; margin: 0; }
.sidebar ul ul { padding-left: 0.8rem; }
.sidebar li { margin: 0.25rem 0; }
.sidebar .part-title { display: block; font-weight: 600; margin-top: 0.8rem; color: var(--muted);
                       text-transform: uppercase; font-size: 0.78rem; letter-spacing: 0.04em; }
.sidebar a.active { font-weight: 600; color: #212529; }
.page { margin-left: 17rem; display: flex; align-items: flex-start; }
.content { flex: 1 1 auto; min-width: 0; max-width: 52rem; padding: 1.5rem 2.5rem 4rem; }
.page-toc { flex: 0 0 14rem; position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1.5rem 1rem;
            font-size: 0.85rem; }
.page-toc ul { list-style: none; padding-left: 0.8rem; margin: 0; }
.page-toc > .toc > ul { padding-left: 0; }
.page-toc p { font-weight: 600; margin: 0 0 0.5rem; }
h1.chapter-title { font-size: 2rem; margin-top: 0.5rem; }
h1, h2, h3, h4 { line-height: 1.25; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--border); padding-bottom: 0.2rem; }
.chapter-number, .header-section-number { color: var(--muted); margin-right: 0.3rem; }
pre { background: var(--code-bg); padding: 0.7rem 0.9rem; overflow-x: auto; border-radius: 4px; font-size: 0.85rem;
      line-height: 1.4; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
pre.cell-output, .cell-output pre, pre.cell-output-stdout, pre.cell-output-display { background: #fff;
      border-left: 3px solid var(--border); }
pre.cell-output-stderr, .cell-output-stderr pre { background: #fff8e6; border-left: 3px solid #f0ad4e; }
details.code-fold > summary { cursor: pointer; color: var(--muted); font-size: 0.85rem; }
.cell { margin: 1rem 0; }
figure { margin: 1.2rem 0; }
figure img, .cell img { max-width: 100%; height: auto; }
figcaption, .float-caption { color: #444; font-size: 0.92rem; margin-top: 0.4rem; }
.float-number { font-weight: 600; }
.quarto-table .float-caption { margin-bottom: 0.4rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--border); padding: 0.25rem 0.6rem; text-align: right; }
th { border-bottom: 2px solid #999; }
table caption { caption-side: top; text-align: left; color: #444; }
.quarto-equation { display: block; overflow-x: auto; overflow-y: hidden; }
math[display="block"] { margin: 0.8rem 0; }
.callout { border: 1px solid var(--border); border-left: 5px solid var(--callout-color, var(--accent));
           border-radius: 4px; margin: 1.2rem 0; }
.callout-header { display: block; font-weight: 600; padding: 0.4rem 0.8rem;
                  background: color-mix(in srgb, var(--callout-color, var(--accent)) 10%, white); }
.callout-details > summary { cursor: pointer; display: list-item; }
.callout-body { padding: 0.2rem 0.8rem; }
.callout-appearance-minimal .callout-header { background: none; }
.callout-note { --callout-color: #0d6efd; }
.callout-tip { --callout-color: #198754; }
.callout-important { --callout-color: #dc3545; }
.callout-warning { --callout-color: #ffc107; }
.callout-caution { --callout-color: #fd7e14; }
.page-navigation { display: flex; justify-content: space-between; gap: 1rem; margin-top: 3rem;
                   padding-top: 1rem; border-top: 1px solid var(--border); }
.page-navigation .next { margin-left: auto; text-align: right; }
#refs .csl-entry { margin-bottom: 0.5rem; padding-left: 1.5rem; text-indent: -1.5rem; }
@media (max-width: 60rem) {
  .sidebar { position: static; width: auto; border-right: none; border-bottom: 1px solid var(--border); }
  .page { margin-left: 0; display: block; }
  .page-toc { display: none; }
  .content { padding: 1rem; }
}
"""
