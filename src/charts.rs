//! The pictures of a run, drawn as text: SVG charts (the training loss with the learning rate, the
//! scores at each evaluation) and HTML (the confusion matrix, the wrong answers). The page puts them
//! into its document and `report.html` into a file, so both show the same pictures from the same
//! numbers. Each carries its numbers in `data-` attributes, for tests and for anyone who wants them.
//! Colours are attributes rather than CSS, so a chart looks the same wherever it is put; `STYLE` is
//! the little CSS the tables and lists need. Plain data: the page's bundle draws without the trainer.

use std::fmt::Write;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde_json::json;

use crate::train::history::{EvalRow, LossPoint};
use crate::train::mistakes::Mistake;
use crate::train::reference::Reference;

/// The CSS of the confusion matrix and the list of mistakes (the charts need none).
pub const STYLE: &str = "\
svg.chart { width: 100%; height: auto; max-width: 60rem; }
table.confusion { border-collapse: collapse; }
.confusion caption { caption-side: bottom; color: #5b6472; font-size: .85rem; text-align: left; padding-top: .2rem; }
.confusion th, .confusion td { padding: .25rem .8rem; border: 1px solid #dde1e7; text-align: right; }
.confusion td.right { font-weight: 600; }
.mistake-list { padding-left: 1.8rem; }
.mistake-list li { margin: .3rem 0; }
.mistake-list .note { color: #5b6472; }
";

// The drawing's size in SVG units (it scales to its box) and the margins that hold the axes' text.
const W: f64 = 640.0;
const H: f64 = 250.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 42.0;
const AXIS: &str = "#8a93a3";
const MUTED: &str = "#5b6472";
const LOSS: &str = "#2563eb";
const LEARNING_RATE: &str = "#d97706";
/// One colour per metric, in `Metrics::scores` order (colour-blind-safe: Okabe and Ito's).
const PALETTE: [&str; 6] = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9"];
const FONT: &str = "font-family=\"system-ui, sans-serif\"";

/// A value's place in the plot's box: steps across, values up.
struct Plot {
    steps: f64,
    low: f64,
    high: f64,
}

impl Plot {
    fn x(&self, step: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * step / self.steps.max(1.0)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (H - TOP - BOTTOM) * (1.0 - (v - self.low) / (self.high - self.low).max(1e-30))
    }

    fn polyline(&self, points: &[(f64, f64)], colour: &str, width: f64, dashed: bool) -> String {
        let coords: Vec<String> = points
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|&(s, v)| format!("{:.1},{:.1}", self.x(s), self.y(v)))
            .collect();
        let dash = if dashed { " stroke-dasharray=\"5 4\"" } else { "" };
        format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>",
            coords.join(" ")
        )
    }

    /// The frame: both axes, the value ticks with light grid lines, the step ticks, and both titles.
    fn axes(&self, out: &mut String, ticks: &[f64], decimals: usize, y_title: &str) {
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
        for &t in ticks {
            let y = self.y(t);
            let _ = write!(
                out,
                "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" stroke=\"#e5e8ed\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"{MUTED}\" {FONT}>{t:.decimals$}</text>",
                x0 - 5.0,
                y + 4.0
            );
        }
        let steps = self.steps.round() as usize;
        let mut marks = vec![0, steps / 2, steps];
        marks.dedup();
        for s in marks {
            let x = self.x(s as f64);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{AXIS}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{MUTED}\" {FONT}>{s}</text>",
                y1 + 4.0,
                y1 + 16.0
            );
        }
        let _ = write!(
            out,
            "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"{AXIS}\"/>\
             <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"{AXIS}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"{MUTED}\" {FONT}>optimizer step</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\" fill=\"{MUTED}\" {FONT}>{}</text>",
            (x0 + x1) / 2.0,
            H - 6.0,
            (y0 + y1) / 2.0,
            text(y_title)
        );
    }
}

/// A legend entry at `x` along the top: a short line in the series' colour and its name. Returns
/// where the next one starts.
fn legend(out: &mut String, x: f64, colour: &str, dashed: bool, name: &str) -> f64 {
    let dash = if dashed { " stroke-dasharray=\"5 4\"" } else { "" };
    let _ = write!(
        out,
        "<line x1=\"{x:.1}\" y1=\"13\" x2=\"{:.1}\" y2=\"13\" stroke=\"{colour}\" stroke-width=\"2.5\"{dash}/>\
         <text x=\"{:.1}\" y=\"17\" font-size=\"12\" fill=\"#1f2733\" {FONT}>{}</text>",
        x + 22.0,
        x + 27.0,
        text(name)
    );
    // Wide enough for most fonts' 12-unit characters.
    x + 27.0 + 6.6 * name.chars().count() as f64 + 16.0
}

fn svg_open(testid: &str, data: &[(&str, String)], label: &str) -> String {
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-testid=\"{testid}\" viewBox=\"0 0 {W} {H}\" \
         role=\"img\" aria-label=\"{}\"",
        attr(label)
    );
    for (name, value) in data {
        let _ = write!(out, " data-{name}=\"{}\"", attr(value));
    }
    out.push_str("><rect width=\"100%\" height=\"100%\" fill=\"#fafbfc\"/>");
    out
}

/// The training loss at each logging step (the mean since the previous one) and, dashed on its own
/// scale, the learning rate, over the run's `total_steps`.
pub fn loss_chart(losses: &[LossPoint], total_steps: usize) -> String {
    let steps = total_steps.max(losses.last().map_or(0, |p| p.step)).max(1) as f64;
    let top = losses.iter().map(|p| p.loss as f64).filter(|l| l.is_finite()).fold(0.0, f64::max);
    // Rounded up to a tenth, so the top tick is a round number.
    let top = if top > 0.0 { (top * 10.0).ceil() / 10.0 } else { 1.0 };
    let plot = Plot { steps, low: 0.0, high: top };
    let peak_lr = losses.iter().map(|p| p.learning_rate).fold(0.0, f64::max);
    let data = [
        // As f32s (json! would widen them to f64's longer digits).
        ("losses", serde_json::to_string(&losses.iter().map(|p| (p.step, p.loss)).collect::<Vec<_>>()).unwrap_or_default()),
        ("learning-rates", json!(losses.iter().map(|p| (p.step, p.learning_rate)).collect::<Vec<_>>()).to_string()),
    ];
    let mut out = svg_open("chart", &data, "training loss and learning rate by optimizer step");
    plot.axes(&mut out, &[0.0, top / 2.0, top], 2, "training loss");
    if peak_lr > 0.0 {
        let scaled: Vec<(f64, f64)> = losses.iter().map(|p| (p.step as f64, p.learning_rate / peak_lr * top)).collect();
        out.push_str(&plot.polyline(&scaled, LEARNING_RATE, 1.5, true));
    }
    let points: Vec<(f64, f64)> = losses.iter().map(|p| (p.step as f64, p.loss as f64)).collect();
    out.push_str(&plot.polyline(&points, LOSS, 2.0, false));
    // A line needs two points: the first log is a dot.
    if let [(s, v)] = points[..].iter().filter(|(_, v)| v.is_finite()).collect::<Vec<_>>()[..] {
        let _ = write!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{LOSS}\"/>", plot.x(*s), plot.y(*v));
    }
    let x = legend(&mut out, LEFT, LOSS, false, "loss (mean since the last log)");
    let lr = match peak_lr > 0.0 {
        true => format!("learning rate (its own scale, peak {peak_lr:.1e})"),
        false => "learning rate (its own scale)".to_string(),
    };
    legend(&mut out, x, LEARNING_RATE, true, &lr);
    if losses.is_empty() {
        no_data(&mut out, "no loss logged yet");
    }
    out.push_str("</svg>");
    out
}

fn no_data(out: &mut String, what: &str) {
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{MUTED}\" {FONT}>{what}</text>",
        (LEFT + W - RIGHT) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
}

/// A metric's name as people read it (`evaluate`'s names; MNLI's mismatched set as `_mm`).
pub fn metric_title(name: &str) -> String {
    let (base, mm) = match name.strip_suffix("_mm") {
        Some(base) => (base, " (mismatched)"),
        None => (name, ""),
    };
    let title = match base {
        "accuracy" => "Accuracy",
        "f1" => "F1",
        "matthews_correlation" => "Matthews corr.",
        "pearson" => "Pearson",
        "spearmanr" => "Spearman",
        other => other,
    };
    format!("{title}{mm}")
}

/// Each of the task's metrics at every evaluation, over the run's `total_steps`, with the PyTorch
/// reference for the recipe as a dashed line in the metric's colour where there is one.
pub fn scores_chart(evaluations: &[EvalRow], total_steps: usize, reference: Option<&Reference>) -> String {
    // The task's metrics; before the first evaluation, the reference's (its line is the target).
    let names: Vec<String> = match (evaluations.first(), reference) {
        (Some(first), _) => first.scores().into_iter().map(|(n, _)| n).collect(),
        (None, Some(r)) => r.scores.iter().map(|(n, _)| n.to_string()).collect(),
        (None, None) => Vec::new(),
    };
    let references: Vec<(usize, f64)> = reference
        .map(|r| r.scores.iter().filter_map(|(n, v)| names.iter().position(|m| m == n).map(|i| (i, *v))).collect())
        .unwrap_or_default();
    let negative = evaluations.iter().flat_map(|r| r.scores()).any(|(_, v)| v < 0.0);
    // Every GLUE metric is at most 1; the correlations go down to -1.
    let plot = Plot {
        steps: total_steps.max(evaluations.last().map_or(0, |r| r.step)).max(1) as f64,
        low: if negative { -1.0 } else { 0.0 },
        high: 1.0,
    };
    let rows: Vec<serde_json::Value> = evaluations
        .iter()
        .map(|r| json!({"step": r.step, "epoch": r.epoch, "scores": r.scores().into_iter().map(|(n, v)| (n, json!(v))).collect::<serde_json::Map<_, _>>()}))
        .collect();
    let reference_data: serde_json::Map<String, serde_json::Value> =
        references.iter().map(|&(i, v)| (names[i].clone(), json!(v))).collect();
    let data = [
        ("scores", json!(rows).to_string()),
        ("reference", if references.is_empty() { String::new() } else { json!(reference_data).to_string() }),
    ];
    let mut out = svg_open("scores-chart", &data, "validation scores by optimizer step");
    let ticks = if negative { vec![-1.0, 0.0, 1.0] } else { vec![0.0, 0.25, 0.5, 0.75, 1.0] };
    plot.axes(&mut out, &ticks, 2, "validation score");
    for (k, &(i, v)) in references.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        // Each label further left than the one before: references are often close (0.80, 0.86).
        let (x0, x1) = (plot.x(0.0), plot.x(plot.steps) - 96.0 * k as f64);
        let _ = write!(
            out,
            "<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\" opacity=\"0.8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"{colour}\" {FONT}>PyTorch {v:.3}</text>",
            plot.x(plot.steps),
            x1 - 2.0,
            plot.y(v) - 4.0,
            y = plot.y(v),
        );
    }
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> =
            evaluations.iter().filter_map(|r| r.scores().into_iter().find(|(n, _)| n == name).map(|(_, v)| (r.step as f64, v))).collect();
        out.push_str(&plot.polyline(&points, colour, 2.0, false));
        for &(s, v) in points.iter().filter(|(_, v)| v.is_finite()) {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"><title>{} {v:.4} at step {s}</title></circle>",
                plot.x(s),
                plot.y(v),
                text(&metric_title(name))
            );
        }
        if let Some(&(s, v)) = points.last().filter(|(_, v)| v.is_finite()) {
            // The latest value beside its point: below it, or above it near the step axis.
            let near_axis = (v - plot.low) / (plot.high - plot.low) < 0.2;
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"{colour}\" {FONT}>{v:.3}</text>",
                plot.x(s) - 6.0,
                plot.y(v) + if near_axis { -8.0 } else { 15.0 }
            );
        }
        x = legend(&mut out, x, colour, false, &metric_title(name));
    }
    if let Some(r) = reference.filter(|_| !references.is_empty()) {
        legend(&mut out, x, MUTED, true, r.source);
    }
    if evaluations.is_empty() {
        no_data(&mut out, "no evaluation yet");
    }
    out.push_str("</svg>");
    out
}

fn name_of(labels: &[String], id: usize) -> String {
    labels.get(id).cloned().unwrap_or_else(|| format!("class {id}"))
}

/// `[true][predicted]` counts under the label names, each cell shaded by its share of its row (the
/// class's examples): green on the diagonal, red off it.
pub fn confusion_table(confusion: &[Vec<usize>], labels: &[String]) -> String {
    let mut out = format!(
        "<table class=\"confusion\" data-testid=\"confusion\" data-counts=\"{}\">\
         <caption>Rows: the true label; columns: the predicted one; shade: the share of the row</caption><thead><tr><th></th>",
        attr(&json!(confusion).to_string())
    );
    for p in 0..confusion.len() {
        let _ = write!(out, "<th>{}</th>", text(&name_of(labels, p)));
    }
    out.push_str("</tr></thead><tbody>");
    for (t, row) in confusion.iter().enumerate() {
        let _ = write!(out, "<tr><th>{}</th>", text(&name_of(labels, t)));
        let total: usize = row.iter().sum();
        for (p, &n) in row.iter().enumerate() {
            let share = n as f64 / total.max(1) as f64;
            let (class, rgb) = if p == t { (" class=\"right\"", "22,163,74") } else { ("", "220,38,38") };
            let _ = write!(out, "<td{class} style=\"background: rgba({rgb},{:.2})\">{n}</td>", 0.5 * share);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The wrong answers as a numbered list starting at number `first + 1`: each one's text, true
/// label, line in the validation file, and how sure the model was of its wrong answer.
pub fn mistake_list(mistakes: &[Mistake], labels: &[String], first: usize) -> String {
    let mut out = format!("<ol class=\"mistake-list\" start=\"{}\">", first + 1);
    for m in mistakes {
        let confidence = m.probabilities.get(m.predicted).copied().unwrap_or(0.0);
        let _ = write!(
            out,
            "<li data-testid=\"mistake\" data-index=\"{}\" data-line=\"{}\" data-label=\"{}\" data-predicted=\"{}\" \
             data-probabilities=\"{}\"><q>{}</q>",
            m.index,
            m.line,
            m.label,
            m.predicted,
            attr(&json!(m.probabilities).to_string()),
            text(&m.text_a)
        );
        if let Some(b) = &m.text_b {
            let _ = write!(out, " / <q>{}</q>", text(b));
        }
        let _ = write!(
            out,
            "<span class=\"note\"> — {} (line {}), predicted {} with {:.0}%</span></li>",
            text(&name_of(labels, m.label)),
            m.line,
            text(&name_of(labels, m.predicted)),
            100.0 * confidence
        );
    }
    out.push_str("</ol>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Metrics;

    fn row(step: usize, accuracy: f64, f1: f64) -> EvalRow {
        EvalRow {
            step,
            epoch: step as f64 / 10.0,
            metrics: Metrics { accuracy: Some(accuracy), f1: Some(f1), matthews_correlation: None, pearson: None, spearmanr: None, examples: 8 },
            mismatched: None,
            confusion: None,
            mistakes: vec![],
        }
    }

    /// The `data-NAME` attribute of the first element that has it, unescaped.
    fn data(html: &str, name: &str) -> String {
        let start = html.find(&format!(" data-{name}=\"")).unwrap() + name.len() + 8;
        let end = start + html[start..].find('"').unwrap();
        html_escape::decode_html_entities(&html[start..end]).into_owned()
    }

    #[test]
    fn the_scores_chart_carries_every_evaluation_and_the_reference() {
        let reference = Reference { source: "test", scores: &[("accuracy", 0.8), ("matthews_correlation", 0.5)] };
        let svg = scores_chart(&[row(10, 0.625, 0.7), row(20, 0.75, 0.8)], 20, Some(&reference));
        let scores: serde_json::Value = serde_json::from_str(&data(&svg, "scores")).unwrap();
        assert_eq!(scores[1]["scores"]["accuracy"], 0.75);
        assert_eq!(scores[0]["step"], 10);
        // Only the reference's metrics the task has.
        assert_eq!(data(&svg, "reference"), r#"{"accuracy":0.8}"#);
        assert!(svg.contains("PyTorch 0.800"), "{svg}");
        // Two series, a point per evaluation each.
        assert_eq!(svg.matches("<circle").count(), 4);
        let plain = scores_chart(&[row(10, 0.625, 0.7)], 20, None);
        assert_eq!(data(&plain, "reference"), "");
        assert!(scores_chart(&[], 20, None).contains("no evaluation yet"));
        // Before the first evaluation the target is drawn already.
        let before = scores_chart(&[], 20, Some(&reference));
        assert_eq!(data(&before, "reference"), r#"{"accuracy":0.8,"matthews_correlation":0.5}"#);
    }

    #[test]
    fn the_loss_chart_carries_its_points_and_skips_what_is_not_finite() {
        let losses = [
            LossPoint { step: 5, loss: 0.69, learning_rate: 4e-5 },
            LossPoint { step: 10, loss: f32::NAN, learning_rate: 3e-5 },
        ];
        let svg = loss_chart(&losses, 20);
        assert_eq!(data(&svg, "losses"), "[[5,0.69],[10,null]]");
        assert_eq!(data(&svg, "learning-rates"), "[[5,0.00004],[10,0.00003]]");
        // The loss line has one point; the top tick is the loss rounded up to a tenth.
        assert!(svg.contains(&format!("stroke=\"{LOSS}\"")) && svg.contains(">0.70</text>"), "{svg}");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        let m = Mistake {
            index: 3,
            line: 5,
            text_a: "<script>alert(1)</script> & \"so\"".into(),
            text_b: Some("b</q>".into()),
            label: 1,
            predicted: 0,
            probabilities: vec![0.9, 0.1],
        };
        let html = mistake_list(&[m], &["no".into(), "<yes>".into()], 20);
        assert!(!html.contains("<script>") && !html.contains("b</q>") && html.contains("&lt;yes&gt;"), "{html}");
        assert!(html.contains("start=\"21\"") && html.contains("predicted no with 90%"));
        let table = confusion_table(&[vec![3, 1], vec![0, 4]], &["a".into()]);
        assert_eq!(data(&table, "counts"), "[[3,1],[0,4]]");
        assert!(table.contains("<th>class 1</th>") && table.contains("rgba(22,163,74,0.38)"), "{table}");
    }
}
