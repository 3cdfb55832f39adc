"""Organisers write Markdown; pages show it as safe HTML."""

from events.markdown import markdown_to_html


def test_scripts_are_removed_with_their_content():
    html = markdown_to_html("Hello\n\n<script>alert('x')</script>\n\n<style>p{}</style>")

    assert "<script" not in html
    assert "alert" not in html
    assert "<style" not in html
    assert "Hello" in html


def test_links_are_kept_and_marked_nofollow():
    html = markdown_to_html("See [the agenda](https://example.org/agenda).")

    assert (
        '<a href="https://example.org/agenda" rel="nofollow noopener noreferrer">the agenda</a>'
        in html
    )


def test_javascript_links_and_event_handlers_are_dropped():
    html = markdown_to_html(
        '[click](javascript:alert(1)) <a href="https://ok.example" onclick="steal()">ok</a>'
        ' <img src="x" onerror="steal()">'
    )

    assert 'href="javascript' not in html
    assert "onclick" not in html
    assert "onerror" not in html
    assert "<img" not in html
    assert 'href="https://ok.example"' in html


def test_formatting_lists_and_tables_render():
    html = markdown_to_html(
        "# Programme\n\n### Day one\n\n**Bold** and *italic*\n\n- one\n- two\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )

    # Under the page's h1 (the title) and its h2 ("About"), headings start at h3.
    assert "<h3>Programme</h3>" in html
    assert "<h4>Day one</h4>" in html  # the skipped level closes up
    assert "<strong>Bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<li>one</li>" in html
    assert "<table>" in html
    assert "<td>1</td>" in html


def test_empty_text_renders_nothing():
    assert markdown_to_html("") == ""
    assert markdown_to_html("   \n") == ""


def test_description_headings_never_skip_a_level_below_the_page_headings():
    # An organiser who starts at "##" and jumps to "####" still gives the page an outline
    # h1 → h2 → h3 → h4 (axe's heading-order rule); "#" and "###" alone become h3 and h4.
    html = markdown_to_html("## Agenda\n\ntext\n\n#### Morning\n\n## Venue\n")
    assert "<h3>Agenda</h3>" in html
    assert "<h4>Morning</h4>" in html
    assert "<h3>Venue</h3>" in html
    assert "<h5>" not in html and "<h2>" not in html
    html = markdown_to_html("# One\n\n### Three\n")
    assert "<h3>One</h3>" in html and "<h4>Three</h4>" in html


def test_a_deeper_heading_first_still_follows_the_page_h2():
    html = markdown_to_html("### Intro\n\ntext\n\n# Day one\n\n## Morning\n")
    assert "<h3>Intro</h3>" in html
    assert "<h3>Day one</h3>" in html
    assert "<h4>Morning</h4>" in html
