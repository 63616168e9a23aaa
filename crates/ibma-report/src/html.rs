//! The report page: one self-contained HTML file (inline CSS, no scripts, the figures embedded
//! as PNG data URIs; the same PNGs are also written beside it). Every piece of text that comes
//! from a file is escaped.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde_json::Value;
use std::fmt::Write;

/// Most rows of a TSV table shown; the rest stay in the file.
const MAX_TABLE_ROWS: usize = 200;

/// A figure on the page.
pub struct Figure {
    /// File name beside `report.html`.
    pub file: String,
    /// Caption (plain text).
    pub caption: String,
    /// The PNG's bytes, embedded in the page.
    pub png: Vec<u8>,
}

/// A page section: a heading and its HTML body.
pub struct Section {
    /// Heading (plain text).
    pub title: String,
    /// Body, already HTML.
    pub body: String,
}

/// Escape text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            _ => s.push(c),
        }
    }
    s
}

/// The whole page.
pub fn page(title: &str, subtitle: &str, sections: &[Section]) -> String {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(html, "<title>{}</title>", esc(title));
    html.push_str(STYLE);
    html.push_str("</head>\n<body>\n");
    let _ = writeln!(html, "<h1>{}</h1>\n<p class=\"sub\">{}</p>", esc(title), esc(subtitle));
    html.push_str("<nav>");
    for (i, s) in sections.iter().enumerate() {
        let _ = write!(html, "<a href=\"#s{i}\">{}</a> ", esc(&s.title));
    }
    html.push_str("</nav>\n");
    for (i, s) in sections.iter().enumerate() {
        let _ = writeln!(html, "<section id=\"s{i}\">\n<h2>{}</h2>\n{}</section>", esc(&s.title), s.body);
    }
    html.push_str("</body>\n</html>\n");
    html
}

const STYLE: &str = "<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
nav a { margin-right: 1em; } section { margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { color: #444; font-size: 0.9em; max-width: 60em; } .file { color: #888; }
.note { background: #fff6dd; border-left: 4px solid #e0b000; padding: 0.4em 0.8em; }
</style>
";

/// A table; cells are plain text, numeric-looking cells are right-aligned.
pub fn table<S: AsRef<str>>(headers: &[&str], rows: &[Vec<S>]) -> String {
    let mut html = String::from("<div class=\"scroll\"><table>\n");
    if headers.iter().any(|h| !h.is_empty()) {
        html.push_str("<tr>");
        for h in headers {
            let _ = write!(html, "<th>{}</th>", esc(h));
        }
        html.push_str("</tr>\n");
    }
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let cell = cell.as_ref();
            let class = if cell.parse::<f64>().is_ok() { " class=\"num\"" } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", esc(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></div>\n");
    html
}

/// A tab-separated table (first line the header) as an HTML table, at most
/// [`MAX_TABLE_ROWS`] rows.
pub fn tsv_table(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return paragraph("The table is empty.") };
    let headers: Vec<&str> = header.split('\t').collect();
    let rows: Vec<Vec<String>> = lines.map(|l| l.split('\t').map(short_number).collect()).collect();
    let mut html = table(&headers, &rows[..rows.len().min(MAX_TABLE_ROWS)]);
    if rows.len() > MAX_TABLE_ROWS {
        html += &paragraph(&format!("{} more rows are in the file.", rows.len() - MAX_TABLE_ROWS));
    }
    html
}

/// A long decimal shortened to 6 decimals for reading (the file keeps every digit); any other
/// cell as it is.
fn short_number(cell: &str) -> String {
    match cell.parse::<f64>() {
        Ok(x) if cell.len() > 10 && !cell.contains(['e', 'E']) && x.abs() < 1e6 => {
            let s = format!("{x:.6}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => cell.to_string(),
    }
}

/// A paragraph of plain text.
pub fn paragraph(text: &str) -> String {
    format!("<p>{}</p>\n", esc(text))
}

/// A highlighted note of plain text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", esc(text))
}

/// A bulleted list of plain-text items.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let mut html = String::from("<ul>\n");
    for i in items {
        let _ = writeln!(html, "<li>{}</li>", esc(i.as_ref()));
    }
    html + "</ul>\n"
}

/// A figure, embedded, with its caption and the name of its file.
pub fn figure(f: &Figure) -> String {
    format!(
        "<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\">\
         <figcaption>{} <span class=\"file\">(saved as {})</span></figcaption></figure>\n",
        BASE64.encode(&f.png),
        esc(&f.caption),
        esc(&f.caption),
        esc(&f.file)
    )
}

/// A sub-heading.
pub fn subheading(text: &str) -> String {
    format!("<h3>{}</h3>\n", esc(text))
}

/// A JSON value as short plain text.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(x)) => format!("{}", (x * 1e6).round() / 1e6),
            _ => n.to_string(),
        },
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(", "),
        Value::Bool(b) => b.to_string(),
        Value::Object(_) => v.to_string(),
    }
}

/// Key/value rows of a JSON object, nested objects flattened to dotted keys after `prefix`.
pub fn flat_rows(prefix: &str, v: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    flatten(prefix, v, &mut rows);
    rows
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, rows);
            }
        }
        _ => rows.push(vec![prefix.to_string(), json_text(v)]),
    }
}
