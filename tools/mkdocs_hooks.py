"""MkDocs hooks of the documentation site (tools/mkdocs.yml): the search index holds prose, not code. Code blocks
(signatures, examples), plain-text outputs, tables and charts are marked `data-search-exclude` before Material's
search plugin indexes the page (it drops the marks from the published HTML), so a search result's excerpt is the
sentence that explains a name, not its source. Heading permalinks (`¶`) stay out of result titles."""
import re

EXCLUDE = re.compile(r'<(div|pre) class="(highlight|jp-RenderedText|jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output'
                     r'|jp-RenderedSVG|jp-RenderedImage)([^"]*)"')

def on_page_content(html, page, config, files):
    html = EXCLUDE.sub(lambda m: f'<{m[1]} data-search-exclude="true" class="{m[2]}{m[3]}"', html)
    return html.replace('<a class="anchor-link"', '<a data-search-exclude="true" class="anchor-link"')   # no "¶" in result titles
