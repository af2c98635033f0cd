"""Splitting Stan programs into blocks: braces in comments and strings, order, errors, real programs."""

from __future__ import annotations

import pytest

from seu_sensitivity.settings import stan_dir
from seu_sensitivity.inference.programs import stan_file
from seu_sensitivity.inference.stan_source import (
    BLOCK_NAMES,
    StanSyntaxError,
    as_markdown,
    header_comment,
    read_blocks,
    split_blocks,
)

TRICKY = """// header { with a brace
/* and } another */
functions {
  real f(real x) { if (x > 0) { return x; } return -x; }  // } in a comment
}
data {
  int N; /* a block comment with { and }
            over two lines } */
  vector[N] y;
}
transformed   data {
  real s = 1; // "}" a string in a comment
}
parameters { real mu; }
// what the model says
model {
  print("a } brace and an escaped \\" quote {");
  y ~ normal(mu, s);
}
generated
quantities { real z = mu; }
"""


def test_all_blocks_found_in_order_with_braces_in_comments_and_strings():
    blocks = split_blocks(TRICKY)
    assert list(blocks) == ["functions", "data", "transformed data", "parameters", "model", "generated quantities"]
    assert "return -x;" in blocks["functions"].body
    assert blocks["data"].body.strip().endswith("vector[N] y;")
    assert blocks["transformed data"].body.strip() == 'real s = 1; // "}" a string in a comment'
    assert 'print("a } brace' in blocks["model"].body and "y ~ normal(mu, s);" in blocks["model"].body
    assert blocks["generated quantities"].body.strip() == "real z = mu;"


def test_text_line_numbers_and_comments_above():
    blocks = split_blocks(TRICKY)
    lines = TRICKY.split("\n")
    for block in blocks.values():
        # the text is exactly the source between the recorded lines
        assert block.text.split("\n")[0] in lines[block.start_line - 1]
        assert lines[block.end_line - 1].rstrip().endswith("}")
        assert block.text.endswith("}") and block.text.count("{") >= 1
    assert blocks["model"].comment == "// what the model says"
    assert blocks["model"].with_comment().startswith("// what the model says\nmodel {")
    assert blocks["parameters"].comment == ""  # no comment directly above
    assert blocks["functions"].start_line == 3 and blocks["functions"].end_line == 5
    assert blocks["generated quantities"].start_line == 20


def test_header_comment_and_markdown():
    assert header_comment(TRICKY) == "// header { with a brace\n/* and } another */"
    assert header_comment("data { }") == ""
    assert as_markdown("model { }") == "```stan\nmodel { }\n```"
    # text with a code fence inside gets a longer fence, so the markdown stays one block
    fenced = as_markdown("// ```\nmodel { }")
    assert fenced.startswith("````stan\n") and fenced.endswith("\n````")


@pytest.mark.parametrize(
    "source, message",
    [
        ("data { int N; ", "never closed"),
        ("data { int N; /* }", "block comment"),
        ('model { print("} ); }', "string literal"),
        ("int N; data { }", "expected a block"),
        ("data { } data { }", "appears twice"),
        ("model { } data { }", "comes after"),
        ("data { } }", "expected a block"),
        ("datum { }", "expected a block"),
    ],
)
def test_malformed_programs_are_refused_with_the_line(source, message):
    with pytest.raises(StanSyntaxError, match=message):
        split_blocks(source)


def test_error_names_the_line():
    with pytest.raises(StanSyntaxError, match="line 3"):
        split_blocks("data {\n}\nparameters {\n real mu;\n")


def test_every_program_of_the_project_splits_and_reassembles():
    """Each block's text is a verbatim slice of the file, and the blocks cover every
    non-comment character of it (nothing is lost between blocks)."""
    paths = sorted(stan_dir().rglob("*.stan"))
    assert paths
    for path in paths:
        source = path.read_text()
        blocks = read_blocks(path)
        assert "model" in blocks, path
        assert list(blocks) == [name for name in BLOCK_NAMES if name in blocks]
        position = 0
        for block in blocks.values():
            found = source.index(block.text, position)
            position = found + len(block.text)
        # what follows the last block is only whitespace
        assert source[position:].strip() == ""


def test_h_m01_has_the_seven_blocks_the_chapter_shows():
    blocks = read_blocks(stan_file("h_m01"))
    assert list(blocks) == list(BLOCK_NAMES)
    assert "reject(" in blocks["transformed data"].body
    assert "sigma_cell * z" in blocks["transformed parameters"].body
    assert "alpha_new" in blocks["generated quantities"].body
