//! The fortunes document in the form the benchmark's verifier compares: whitespace
//! between tags dropped, tags lower-cased, and the escapes that mean the same written
//! one way (`&#34;`, `&#x22;` and a bare `"` in text are all `&quot;`; likewise `'`,
//! `<`, `>`, `&`). A `<script>` left unescaped stays a tag, so it cannot pass for text.

/// `html` in the compared form.
pub fn normalise(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |at| at + 1);
            out.push_str(&rest[..end].to_ascii_lowercase());
            rest = &rest[end..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            if !text.trim().is_empty() {
                push_text(&mut out, text);
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Text between tags, each character or reference in its one form.
fn push_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '&'
            && let Some(end) = rest.find(';')
            && let Some(canonical) = reference(&rest[1..end])
        {
            out.push_str(&canonical);
            rest = &rest[end + 1..];
            continue;
        }
        push_char(out, c);
        rest = &rest[c.len_utf8()..];
    }
}

/// A character reference's name (`quot`, `#34`, `#x22`) in its one form.
fn reference(name: &str) -> Option<String> {
    let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
        u32::from_str_radix(hex, 16).ok()?
    } else if let Some(decimal) = name.strip_prefix('#') {
        decimal.parse().ok()?
    } else {
        match name {
            "quot" => 34,
            "apos" => 39,
            "amp" => 38,
            "lt" => 60,
            "gt" => 62,
            _ => return None,
        }
    };
    let mut out = String::new();
    push_char(&mut out, char::from_u32(code)?);
    Some(out)
}

fn push_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn escapes_that_mean_the_same_compare_equal() {
        let a = "<!DOCTYPE html>\n<p>\n  <b>&#60;x&#62; &#34;q&#34; aren&#39;t &#38;</b>\n</p>";
        let b = "<!doctype html><p><b>&lt;x&gt; \"q\" aren't &amp;</b></p>";
        assert_eq!(normalise(a), normalise(b));
        assert_eq!(
            normalise(b),
            "<!doctype html><p><b>&lt;x&gt; &quot;q&quot; aren&apos;t &amp;</b></p>"
        );
    }

    #[test]
    fn an_unescaped_tag_stays_a_tag() {
        assert_ne!(
            normalise("<td><script>alert(1)</script></td>"),
            normalise("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>")
        );
    }
}
