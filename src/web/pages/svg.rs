//! The traceroute drawing (`/graph/traceroute/{id}` and the traceroute page), generated
//! here instead of by graphviz: one row per path, forward paths left to right
//! (requester → target) in orange, return paths right to left (target → requester) in
//! dashed blue, each hop labelled with the SNR the receiving node measured. Every name is
//! XML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

/// A path to draw.
pub struct Row {
    pub forward: bool,
    /// Nodes in travel order.
    pub nodes: Vec<i64>,
    /// dB per hop (`nodes.len() - 1` entries or fewer), `None` when unknown.
    pub snr: Vec<Option<f64>>,
    pub label: String,
}

/// What a node box shows.
pub struct Label {
    pub short: String,
    pub long: String,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

const COL: f64 = 205.0;
const ROW: f64 = 110.0;
const BOX_W: f64 = 145.0;
const BOX_H: f64 = 46.0;

/// The SVG document. `requester` and `target` are outlined in their own colours. A
/// group, not an image: its node boxes are links, each named by its `<title>`.
pub fn render(rows: &[Row], labels: &HashMap<i64, Label>, requester: i64, target: i64) -> String {
    let cols = rows.iter().map(|r| r.nodes.len()).max().unwrap_or(1).max(2);
    let width = cols as f64 * COL + 20.0;
    let height = (rows.len().max(1)) as f64 * ROW + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="trace-svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="group" font-family="system-ui, sans-serif" font-size="12">"#
    );
    s.push_str(
        r##"<defs><marker id="arrow-f" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#e8590c"/></marker><marker id="arrow-r" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#1c7ed6"/></marker></defs>"##,
    );
    if rows.is_empty() {
        let _ = write!(
            s,
            r##"<text x="10" y="40" fill="#868e96">no route recorded</text></svg>"##
        );
        return s;
    }
    for (r, row) in rows.iter().enumerate() {
        let y = 10.0 + r as f64 * ROW;
        let n = row.nodes.len();
        // Forward rows run left to right; return rows right to left, so the requester
        // is always in the first column and the target in the last.
        let x_of = |i: usize| -> f64 {
            let span = (cols - 1) as f64;
            let pos = if n <= 1 {
                0.0
            } else {
                i as f64 * span / (n - 1) as f64
            };
            let pos = if row.forward { pos } else { span - pos };
            10.0 + pos * COL
        };
        let (colour, marker, dash) = if row.forward {
            ("#e8590c", "arrow-f", "")
        } else {
            ("#1c7ed6", "arrow-r", r#" stroke-dasharray="6 4""#)
        };
        let _ = write!(
            s,
            r##"<text x="10" y="{}" fill="#868e96">{}</text>"##,
            y + 10.0,
            escape(&row.label)
        );
        let by = y + 22.0;
        for i in 0..n.saturating_sub(1) {
            let (x1, x2) = (x_of(i), x_of(i + 1));
            let (a, b) = if x2 > x1 {
                (x1 + BOX_W, x2)
            } else {
                (x1, x2 + BOX_W)
            };
            let ly = by + BOX_H / 2.0;
            let _ = write!(
                s,
                r#"<line x1="{a}" y1="{ly}" x2="{b}" y2="{ly}" stroke="{colour}" stroke-width="2.5"{dash} marker-end="url(#{marker})"/>"#
            );
            let snr = row
                .snr
                .get(i)
                .copied()
                .flatten()
                .map(|v| format!("{v:.2} dB"))
                .unwrap_or_else(|| "? dB".to_string());
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{colour}" class="snr">{}</text>"#,
                (a + b) / 2.0,
                ly - 6.0,
                escape(&snr)
            );
        }
        for (i, node) in row.nodes.iter().enumerate() {
            let x = x_of(i);
            let stroke = if *node == requester {
                "#e03131"
            } else if *node == target {
                "#2f9e44"
            } else {
                "#868e96"
            };
            let hex = format!("!{:08x}", *node as u32);
            let (short, long) = labels
                .get(node)
                .map(|l| (l.short.as_str(), l.long.as_str()))
                .unwrap_or(("", ""));
            let title = if long.is_empty() {
                hex.clone()
            } else {
                format!("{long} {hex}")
            };
            let top = if short.is_empty() {
                hex.clone()
            } else {
                format!("[{short}] {hex}")
            };
            let _ = write!(
                s,
                r#"<a href="/node/{node}"><title>{}</title><rect x="{x}" y="{by}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="var(--box, #f8f9fa)" stroke="{stroke}" stroke-width="2"/><text x="{}" y="{}" text-anchor="middle" fill="var(--ink, #212529)" font-weight="600">{}</text><text x="{}" y="{}" text-anchor="middle" fill="var(--ink, #212529)">{}</text></a>"#,
                escape(&title),
                x + BOX_W / 2.0,
                by + 18.0,
                escape(&clip(&top, 21)),
                x + BOX_W / 2.0,
                by + 35.0,
                escape(&clip(long, 21)),
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_names_and_draws_both_legs() {
        let mut labels = HashMap::new();
        labels.insert(
            1,
            Label {
                short: "<b>".into(),
                long: "<img src=x onerror=alert(1)>".into(),
            },
        );
        let rows = vec![
            Row {
                forward: true,
                nodes: vec![1, 2, 3],
                snr: vec![Some(5.25), None],
                label: "forward".into(),
            },
            Row {
                forward: false,
                nodes: vec![3, 1],
                snr: vec![Some(-3.0)],
                label: "return".into(),
            },
        ];
        let svg = render(&rows, &labels, 1, 3);
        assert!(!svg.contains("<img"));
        assert!(svg.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(svg.contains("5.25 dB"));
        assert!(svg.contains("-3.00 dB"));
        assert!(svg.contains("? dB"));
        assert_eq!(svg.matches("<line").count(), 3);
        assert!(svg.contains("stroke-dasharray"));
    }
}
